"""Job logs: levels and writing entries in batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.expressions import F

from domain.clock import utcnow
from domain.models import Job, JobLog


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@dataclass(frozen=True)
class LogLine:
    job_id: int
    level: LogLevel
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    chunk_index: int | None = None
    record_key: str | None = None
    at: datetime = field(default_factory=utcnow)


async def write_logs(lines: Iterable[LogLine]) -> None:
    """One insert for the batch; error lines also count towards the job's ``hasErrors``."""
    lines = list(lines)
    if not lines:
        return
    await JobLog.bulk_create(
        [
            JobLog(
                job_id=line.job_id,
                at=line.at,
                level=line.level.value,
                message=line.message,
                fields_=dict(line.fields),
                chunk_index=line.chunk_index,
                record_key=line.record_key,
            )
            for line in lines
        ]
    )
    errors_per_job: dict[int, int] = {}
    for line in lines:
        if line.level is LogLevel.ERROR:
            errors_per_job[line.job_id] = errors_per_job.get(line.job_id, 0) + 1
    for job_id, count in errors_per_job.items():
        await Job.filter(id=job_id).update(error_logs=F("error_logs") + count)
