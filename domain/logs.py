"""Job logs: levels and writing entries in batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


def at_least(level: LogLevel | None) -> list[LogLevel]:
    """The levels shown when ``level`` is the minimum (all of them for None)."""
    levels = list(LogLevel)
    return levels if level is None else levels[levels.index(level):]


async def lines_after(job_id: int, after_id: int, levels: Sequence[LogLevel], limit: int) -> list[JobLog]:
    """The job's lines of ``levels`` with an id above ``after_id``, oldest first."""
    return (
        await JobLog.filter(job_id=job_id, id__gt=after_id, level__in=[level.value for level in levels])
        .order_by("id")
        .limit(limit)
    )


async def last_line_id(job_id: int) -> int:
    return await JobLog.filter(job_id=job_id).order_by("-id").first().values_list("id", flat=True) or 0
