"""What must hold after every worker scenario: a job's status, its chunks, its records and its
counters agree with each other, read straight from the rows the processes wrote."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from domain import db
from domain.counts import COUNTERS, Counts
from domain.models import Chunk, Job
from domain.statuses import CHUNK_OPEN, TERMINAL, ChunkStatus, JobOutcome, JobStatus, RecordStatus


async def check_invariants(since: datetime) -> None:
    """Every job created at or after ``since`` is consistent; raises AssertionError saying how not."""
    problems: list[str] = []
    for job in await Job.filter(created_at__gte=since).order_by("id"):
        problems.extend(f"job {job.id} ({job.type}, {job.status}): {problem}" for problem in await _job_problems(job))
    assert not problems, "inconsistent state after the scenario:\n" + "\n".join(problems)


async def _job_problems(job: Job) -> list[str]:
    problems: list[str] = []
    chunks = await Chunk.filter(job_id=job.id).order_by("index")
    rows = await db.fetch(
        "SELECT chunk_id, status, COUNT(*) AS n FROM record WHERE job_id = ? GROUP BY chunk_id, status", [job.id]
    )
    by_chunk: dict[int, Counter[RecordStatus]] = defaultdict(Counter)
    for row in rows:
        by_chunk[row["chunk_id"]][RecordStatus(row["status"])] += int(row["n"])
    in_job: Counter[RecordStatus] = sum(by_chunk.values(), Counter())

    if in_job[RecordStatus.RUNNING]:
        problems.append(f"{in_job[RecordStatus.RUNNING]} records stored as RUNNING")
    if Counts.of_row(job) != Counts.of_tally(in_job) or job.done != Counts.of_tally(in_job).done:
        problems.append(f"counters {_counters(job)} but records {dict(in_job)}")
    for chunk in chunks:
        records = by_chunk.get(chunk.id, Counter())
        if Counts.of_row(chunk) != Counts.of_tally(records) or chunk.done != Counts.of_tally(records).done:
            problems.append(f"chunk {chunk.index} counters {_counters(chunk)} but records {dict(records)}")
        if sum(records.values()) > chunk.range_end - chunk.range_start:
            problems.append(f"chunk {chunk.index} has more record rows than records")
    if set(by_chunk) - {chunk.id for chunk in chunks}:
        problems.append("records in chunks of another job")

    statuses = Counter(chunk.status for chunk in chunks)
    if job.status is JobStatus.STOPPED and any(statuses[status] for status in CHUNK_OPEN):
        problems.append(f"stopped with open chunks {dict(statuses)}")
    if job.status in TERMINAL and any(statuses[status] for status in CHUNK_OPEN | {ChunkStatus.STOPPED}):
        problems.append(f"ended with chunks still to run {dict(statuses)}")
    if job.status is JobStatus.FINISHED:
        if job.outcome is JobOutcome.SUCCEEDED and (job.failed or set(statuses) - {ChunkStatus.COMPLETED}):
            problems.append(f"SUCCEEDED with {job.failed} failed records and chunks {dict(statuses)}")
        if job.outcome is JobOutcome.WITH_ERRORS and not job.failed:
            problems.append("WITH_ERRORS without a failed record")
        if job.outcome is JobOutcome.INCOMPLETE and not set(statuses) - {ChunkStatus.COMPLETED}:
            problems.append("INCOMPLETE with every chunk completed")
        if job.outcome is not JobOutcome.INCOMPLETE and job.total is not None and job.done != job.total:
            problems.append(f"finished with {job.done} of {job.total} records done")
    if job.status is JobStatus.CANCELED and job.total is not None and job.enumerated and job.done != job.total:
        problems.append(
            f"canceled with {job.done} of {job.total} records accounted for; chunks {dict(statuses)},"
            f" records {dict(in_job)}"
        )
    return problems


def _counters(row: Job | Chunk) -> dict[str, int]:
    return {"done": row.done, **{name: getattr(row, name) for name in COUNTERS}}
