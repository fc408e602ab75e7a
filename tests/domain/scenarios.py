"""Building job scenarios for domain tests, and snapshots that tell whether anything changed.

Tests may put a job straight into a status (``put_in``) and lay out its chunks
and records by hand; product code only ever moves them through the verbs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain import jobs
from domain.access import Actor
from domain.clock import utcnow
from domain.models import Chunk, Job, JobEvent, JobLog, Record
from domain.counts import COUNTERS, Counts
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from domain.usage import plan_usage

# Large enough that no test ever creates a row with it.
MISSING_ID = 987_654_321_012

# The status moves a test can ask for, by the names the tests and the spec use.
Verb = Callable[[Actor, Job], Awaitable[Any]]

VERBS: dict[str, Verb] = {
    "stop": lambda actor, job: jobs.stop_job(actor, job.id),
    "force_stop": lambda actor, job: jobs.force_stop_job(actor, job.id),
    "resume": lambda actor, job: jobs.resume_job(actor, job.id),
    "cancel": lambda actor, job: jobs.cancel_job(actor, job.id),
    "restart": lambda actor, job: jobs.restart_job(actor, job.id),
    "retry_failed_records": lambda actor, job: jobs.retry_failed_records(actor, job.id),
    "hide": lambda actor, job: jobs.hide_job(actor, job.id),
    "set_low_priority": lambda actor, job: jobs.set_job_low_priority(actor, job.id, True),
}

# What the workers report; they refuse by returning None, not by raising.
WORKER_EVENTS: dict[str, Verb] = {
    "mark_running": lambda actor, job: jobs.mark_running(job.id),
    "mark_waiting": lambda actor, job: jobs.mark_waiting(job.id),
    "mark_drained": lambda actor, job: jobs.mark_drained(job.id),
    "finish_job": lambda actor, job: jobs.finish_job(job.id),
    "fail_job": lambda actor, job: jobs.fail_job(job.id, "enumeration failed"),
}

OPERATIONS: dict[str, Verb] = {**VERBS, **WORKER_EVENTS}

# How each operation shows in the job's history (JobEvent.data["operation"] or the kind).
EVENT_NAMES = {
    "STOP": "stop",
    "FORCE_STOP": "force_stop",
    "RESUME": "resume",
    "CANCEL": "cancel",
    "CHUNK_STARTED": "mark_running",
    "ALL_WAITING": "mark_waiting",
    "WAIT_COMPLETED": "complete_wait",
    "DRAINED": "mark_drained",
    "WORK_DONE": "finish_job",
    "RUN_FAILED": "fail_job",
    "HIDDEN": "hide",
    "PRIORITY_CHANGED": "set_low_priority",
}


async def start(actor: Actor, type: str = "test.plain", **request: Any) -> Job:
    """A job admitted with its records still to enumerate, whatever its size: the tests give it
    the chunks they need (``add_chunk``), where startJob writes a small job's chunk itself."""
    job = await jobs.start_job(actor, jobs.StartJobRequest(type=type, **request))
    if job.enumerated:
        await Chunk.filter(job_id=job.id).delete()
        await Job.filter(id=job.id).update(enumerated=False, total=None)
        await job.refresh_from_db()
    return job


async def put_in(job: Job, status: JobStatus, **fields: Any) -> Job:
    """Write a status straight onto the row, as if the job had got there earlier."""
    if status is not JobStatus.PENDING and "started_at" not in fields:
        fields["started_at"] = utcnow()
    await Job.filter(id=job.id).update(status=status, **fields)
    await job.refresh_from_db()
    return job


async def add_chunk(
    job: Job,
    index: int,
    status: ChunkStatus,
    records: Sequence[RecordStatus] = (),
    *,
    lease_owner: str | None = None,
) -> Chunk:
    """A chunk holding one record per given status, at consecutive positions, counted on
    the chunk and its job as the workers count them."""
    start_at = index * 100
    counts = Counts.of_statuses(records)
    chunk = await Chunk.create(
        job_id=job.id,
        index=index,
        status=status,
        range_start=start_at,
        range_end=start_at + len(records),
        cursor=start_at + sum(1 for status in records if status is not RecordStatus.PENDING),
        lease_owner=lease_owner,
        done=counts.done,
        **{name: getattr(counts, name) for name in COUNTERS},
    )
    if counts:
        await Job.filter(id=job.id).update(**counts.increments())
    await Record.bulk_create(
        [
            Record(
                job_id=job.id,
                partition_id=job.partition_id,
                chunk_id=chunk.id,
                position=start_at + offset,
                key=f"r{start_at + offset}",
                status=record_status,
            )
            for offset, record_status in enumerate(records)
        ]
    )
    return chunk


async def chunk_statuses(job: Job) -> list[ChunkStatus]:
    return [chunk.status for chunk in await Chunk.filter(job_id=job.id).order_by("index")]


async def record_statuses(job: Job) -> list[RecordStatus]:
    return [record.status for record in await Record.filter(job_id=job.id).order_by("position")]


async def events_of(job: Job) -> list[JobEvent]:
    return await JobEvent.filter(job_id=job.id).order_by("seq")


def event_name(event: JobEvent) -> str:
    return EVENT_NAMES[event.data.get("operation", event.kind)]


async def jobs_used(actor: Actor) -> int:
    return (await plan_usage(actor)).jobs_used


@dataclass(frozen=True)
class Snapshot:
    """Everything about a job a user could notice changing."""

    job: tuple
    events: tuple
    chunks: tuple
    records: tuple
    logs: int
    tenant_jobs: tuple

    @property
    def status(self) -> JobStatus:
        return self.job[0]

    @property
    def seq(self) -> int:
        return self.job[1]


async def snapshot(job_id: int) -> Snapshot:
    job = await Job.get(id=job_id)
    return Snapshot(
        job=(
            job.status,
            job.seq,
            job.outcome,
            job.error,
            job.low_priority,
            job.hidden,
            _moment(job.started_at),
            _moment(job.ended_at),
        ),
        events=tuple(
            (e.seq, e.kind, e.from_status, e.to_status)
            for e in await JobEvent.filter(job_id=job_id).order_by("seq")
        ),
        chunks=tuple(
            (c.index, c.status, c.cursor, c.lease_owner, _moment(c.ended_at))
            for c in await Chunk.filter(job_id=job_id).order_by("index")
        ),
        records=tuple(
            (r.position, r.status, r.error, _moment(r.ended_at))
            for r in await Record.filter(job_id=job_id).order_by("position")
        ),
        logs=await JobLog.filter(job_id=job_id).count(),
        tenant_jobs=tuple(
            await Job.filter(tenant_id=job.tenant_id).order_by("id").values_list("id", flat=True)
        ),
    )


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
