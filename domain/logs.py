"""Job logs: levels, writing entries in batches, and the records lines name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.expressions import F

from domain import db
from domain.clock import utcnow
from domain.models import Job, JobLog, Record
from domain.partitions import in_partitions, partitions_of_jobs


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
    # The job's partition, set by a writer holding the job's row in its transaction: the
    # job exists, and its partition is not looked up again.
    partition_id: int | None = None


async def write_logs(lines: Iterable[LogLine]) -> None:
    """One insert for the batch; error lines also count towards the job's ``hasErrors``.

    Lines go to their job's partition; those of a job that is gone (pruned) go nowhere.
    """
    lines = list(lines)
    unplaced = {line.job_id for line in lines if line.partition_id is None}
    partitions = dict(await Job.filter(id__in=unplaced).values_list("id", "partition_id")) if unplaced else {}
    for line in lines:
        if line.partition_id is not None:
            partitions[line.job_id] = line.partition_id
    lines = [line for line in lines if line.job_id in partitions]
    if not lines:
        return
    await JobLog.bulk_create(
        [
            JobLog(
                job_id=line.job_id,
                partition_id=partitions[line.job_id],
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


async def lines_after(job: Job, after_id: int, levels: Sequence[LogLevel], limit: int) -> list[JobLog]:
    """The job's lines of ``levels`` with an id above ``after_id``, oldest first."""
    return (
        await JobLog.filter(
            job_id=job.id, partition_id=job.partition_id, id__gt=after_id, level__in=[level.value for level in levels]
        )
        .order_by("id")
        .limit(limit)
    )


async def last_line_id(job: Job) -> int:
    lines = JobLog.filter(job_id=job.id, partition_id=job.partition_id)
    return await lines.order_by("-id").first().values_list("id", flat=True) or 0


# A line names its record by where it ran: (job id, chunk index, record key).
RecordPlace = tuple[int, int, str]


def record_place(line: JobLog) -> RecordPlace | None:
    if line.chunk_index is None or line.record_key is None:
        return None
    return (line.job_id, line.chunk_index, line.record_key)


async def records_named(places: Sequence[RecordPlace]) -> dict[RecordPlace, Record]:
    """The records of ``places`` that have a row, in one query.

    Lines keep the key their step saw, not the record's id: the record's row is written
    once its steps ran, in the same flush as their lines. Each chunk named is found by its
    unique (job, index) and its records by their chunk, so a page of lines reads the
    records of the few chunks it names. A key the enumeration gave twice names its
    first record.
    """
    wanted = set(places)
    if not wanted:
        return {}
    chunks = sorted({(job_id, index) for job_id, index, _ in wanted})
    keys = sorted({key for _, _, key in wanted})
    kept, partitions = in_partitions(await partitions_of_jobs(sorted({job_id for job_id, _ in chunks})), "r.partition_id")
    in_chunks = " OR ".join(['(c.job_id = ? AND c."index" = ?)'] * len(chunks))
    rows = await db.fetch(
        'SELECT c.job_id AS _job_id, c."index" AS _chunk_index, r.* FROM chunk c JOIN record r ON r.chunk_id = c.id'
        f" WHERE ({in_chunks}) AND r.key IN ({', '.join('?' * len(keys))}) AND {kept} ORDER BY r.position",
        [value for chunk in chunks for value in chunk] + keys + partitions,
    )
    found: dict[RecordPlace, Record] = {}
    for row in rows:
        place = (row["_job_id"], row["_chunk_index"], row["key"])
        if place in wanted and place not in found:
            # The extra columns are ignored: the model reads the ones it has.
            found[place] = Record._init_from_db(**row)
    return found
