"""What workers do to the persisted state: enumerate, lease chunks, write outcomes, settle jobs.

Leases make recovery safe. A chunk is RUNNING under one ``lease_owner``; every
write a worker makes is guarded by that owner, so a worker that lost its lease
(it stalled, the reaper re-queued the chunk) writes nothing more. Outcomes are
written under the database's unique ``(job, position)`` key, and a row already
there is kept (``ON CONFLICT DO NOTHING``): a record re-run after a crash can
never get a second outcome.
Counters are recounted from the record rows at chunk boundaries, so they stay
exact whatever was retried.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from tortoise.expressions import F, Q

from domain import db
from domain.clock import month_of, utcnow
from domain.jobs import fail_job, finish_job, mark_drained, mark_running, mark_waiting
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Chunk, Job, PlanUsage, Record
from domain.scheduling import fairest_ready_chunk
from domain.statuses import (
    DISPATCHABLE,
    IN_FLIGHT,
    RECORD_RETRYABLE,
    TERMINAL,
    ChunkStatus,
    JobStatus,
    RecordStatus,
)

# A chunk that lost its worker this many times is given up (FAILED) instead of re-run.
MAX_CHUNK_ATTEMPTS = 5
CHUNKS_PER_INSERT = 200


def runs_work(job: Job) -> bool:
    """Whether the job's chunks may run now: a non-stoppable job keeps working while STOPPING."""
    return job.status in DISPATCHABLE or (job.status is JobStatus.STOPPING and not job.stoppable)


def should_pause(status: JobStatus, stoppable: bool) -> bool:
    """Whether a worker must stop starting new records of a job in ``status``."""
    if status is JobStatus.STOPPING:
        return stoppable
    return status not in (JobStatus.RUNNING, JobStatus.WAITING)


# ---------------------------------------------------------------- enumeration


async def begin_enumeration(job_id: int, ttl: timedelta) -> Job | None:
    """The job, if it still needs its chunks; None if it is gone or moved on.

    A PENDING job stays PENDING: it starts when its first chunk does (SPEC §2),
    so a job whose chunks queue behind other work keeps counting its waiting time.
    """
    job = await Job.get_or_none(id=job_id)
    if job is None or job.enumerated or not runs_work(job):
        return None
    await Job.filter(id=job_id).update(enumeration_lease_expires_at=utcnow() + ttl)
    return await Job.get(id=job_id)


async def add_chunks(job: Job, first_index: int, first_position: int, keys: Sequence[str]) -> int:
    """Chunk rows for ``keys`` (consecutive from ``first_position``); safe to repeat after a crash."""
    chunks = []
    for offset in range(0, len(keys), job.chunk_size):
        part = list(keys[offset : offset + job.chunk_size])
        start = first_position + offset
        chunks.append(
            Chunk(
                job_id=job.id,
                index=first_index + len(chunks),
                range_start=start,
                range_end=start + len(part),
                cursor=start,
                keys=part,
            )
        )
    for offset in range(0, len(chunks), CHUNKS_PER_INSERT):
        await Chunk.bulk_create(chunks[offset : offset + CHUNKS_PER_INSERT], ignore_conflicts=True)
    return len(chunks)


async def extend_enumeration(job_id: int, ttl: timedelta) -> JobStatus | None:
    job = await Job.get_or_none(id=job_id).only("id", "status")
    if job is None:
        return None
    await Job.filter(id=job_id).update(enumeration_lease_expires_at=utcnow() + ttl)
    return job.status


async def end_enumeration(job_id: int, total: int) -> None:
    await Job.filter(id=job_id).update(
        enumerated=True, total=total, enumeration_lease_expires_at=None
    )
    if total == 0:
        # No chunk will ever start a job without records: it starts here, and finishes.
        await mark_running(job_id)
    await settle_job(job_id)


async def enumeration_failed(job_id: int, error: str) -> None:
    await write_logs([LogLine(job_id, LogLevel.ERROR, "enumerating the records failed", {"error": error})])
    await fail_job(job_id, f"enumeration failed: {error}")


async def failed_record_keys(job_id: int) -> list[str]:
    """The records a retry job runs again: those that failed or were interrupted."""
    return await Record.filter(job_id=job_id, status__in=RECORD_RETRYABLE).order_by(
        "position"
    ).values_list("key", flat=True)


# ---------------------------------------------------------------- leases


@dataclass(frozen=True)
class ClaimedChunk:
    chunk: Chunk
    job: Job
    # Records of the chunk that already have a row: done ones are skipped,
    # PENDING ones continue after a wait.
    existing: dict[int, Record]


async def claim_next_chunk(owner: str, ttl: timedelta) -> ClaimedChunk | None:
    """Lease the fairest ready chunk (``domain.scheduling``) for ``owner``; None when none is ready.

    One guarded update picks and leases the chunk, so two slots never take the same one
    and the order is the fair one at this very moment.
    """
    now = utcnow()
    rows = await db.fetch(
        "UPDATE chunk SET status = ?, lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1,"
        f" started_at = COALESCE(started_at, ?) WHERE status = ? AND id = ({fairest_ready_chunk()})"
        " RETURNING id",
        [ChunkStatus.RUNNING.value, owner, now + ttl, now, ChunkStatus.PENDING.value],
    )
    if not rows:
        return None
    chunk_id = rows[0]["id"]
    chunk = await Chunk.get(id=chunk_id)
    job = await Job.get(id=chunk.job_id)
    if job.status is JobStatus.PENDING:  # its first chunk starts it
        job = await mark_running(job.id) or await Job.get(id=job.id)
    existing = {
        record.position: record
        for record in await Record.filter(chunk_id=chunk_id).only(
            "id", "position", "key", "status", "wait_payload", "journey", "attempts", "started_at"
        )
    }
    return ClaimedChunk(chunk=chunk, job=job, existing=existing)


async def heartbeat(chunk_id: int, owner: str, ttl: timedelta) -> JobStatus | None:
    """Extend the lease; the job's status, or None when the lease is lost."""
    extended = await Chunk.filter(
        id=chunk_id, lease_owner=owner, status=ChunkStatus.RUNNING
    ).update(lease_expires_at=utcnow() + ttl)
    if not extended:
        # A force stop leaves the chunk STOPPED with our owner: still ours to wind down.
        if not await Chunk.exists(id=chunk_id, lease_owner=owner):
            return None
    status = await Job.filter(chunks__id=chunk_id).values_list("status", flat=True)
    return JobStatus(status[0]) if status else None


# ---------------------------------------------------------------- outcomes


@dataclass(slots=True)
class RecordResult:
    position: int
    key: str
    status: RecordStatus
    started_at: datetime
    ended_at: datetime | None
    journey: list[Any]
    error: str | None = None
    attempts: int = 1
    # Set when the record already has a row (it continues after a wait).
    record_id: int | None = None
    wait_deadline: datetime | None = None


async def save_results(
    job_id: int, chunk_id: int, owner: str, results: Sequence[RecordResult], cursor: int
) -> bool:
    """Write a batch of outcomes and the chunk cursor in one transaction; False if the lease is lost."""
    async with db.transaction():
        if not await Chunk.filter(id=chunk_id, lease_owner=owner).update(cursor=cursor):
            return False
        new = [result for result in results if result.record_id is None]
        continued = [result for result in results if result.record_id is not None]
        if new:
            await _insert_records(job_id, chunk_id, new)
        for result in continued:
            await Record.filter(id=result.record_id, status=RecordStatus.PENDING).update(
                status=result.status,
                error=result.error,
                ended_at=result.ended_at,
                journey=result.journey,
                attempts=result.attempts,
                wait_payload=None,
                wait_deadline=result.wait_deadline,
            )
    return True


# One encoder for every journey: ``json.dumps`` with separators builds a new one per call,
# which cost more than the encoding itself.
_encode_journey = json.JSONEncoder(separators=(",", ":")).encode

_RECORD_COLUMNS = (
    "job_id", "chunk_id", "position", "key", "status", "error", "attempts", "started_at", "ended_at",
    "journey", "wait_deadline",
)


async def _insert_records(job_id: int, chunk_id: int, results: Sequence[RecordResult]) -> None:
    rows = [
        (
            job_id,
            chunk_id,
            r.position,
            r.key,
            r.status.value,
            r.error,
            r.attempts,
            r.started_at,
            r.ended_at,
            _encode_journey(r.journey),
            r.wait_deadline,
        )
        for r in results
    ]
    columns = ", ".join(_RECORD_COLUMNS)
    if db.dialect() != "postgres":
        await Record._meta.db.execute_many(
            f"INSERT OR IGNORE INTO record ({columns}) VALUES ({', '.join('?' * len(_RECORD_COLUMNS))})",
            rows,
        )
        return
    if await _copy_records(rows):
        return
    # A row is already there: keep it, write the rest. Arrays travel in asyncpg's binary format.
    await db.fetch(
        f"INSERT INTO record ({columns}) SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::bigint[],"
        " ?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::timestamptz[],"
        " ?::text[]::jsonb[], ?::timestamptz[]) ON CONFLICT (job_id, position) DO NOTHING",
        [list(column) for column in zip(*rows)],
    )


async def _copy_records(rows: list[tuple[Any, ...]]) -> bool:
    """COPY the rows in, on the transaction's connection; False if one hit the unique key.

    COPY costs PostgreSQL a third of an INSERT per row, but has no ON CONFLICT. The
    chunk's lease and cursor mean a fresh position has no row yet; should one have it
    anyway, the savepoint undoes the whole COPY and the caller inserts around the row.
    """
    async with Record._meta.db.acquire_connection() as connection:
        try:
            async with connection.transaction():  # nested in save_results': a savepoint
                await connection.copy_records_to_table("record", records=rows, columns=_RECORD_COLUMNS)
        except asyncpg.UniqueViolationError:
            return False
    return True


@dataclass(frozen=True)
class Counts:
    done: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    waiting: int = 0
    pending: int = 0


async def count_records(chunk_id: int) -> Counts:
    rows = await db.fetch(
        "SELECT status, COUNT(*) AS n FROM record WHERE chunk_id = ? GROUP BY status", [chunk_id]
    )
    by_status = {RecordStatus(row["status"]): int(row["n"]) for row in rows}
    return Counts(
        done=sum(n for status, n in by_status.items() if status not in _NOT_DONE),
        succeeded=by_status.get(RecordStatus.SUCCEEDED, 0),
        failed=by_status.get(RecordStatus.FAILED, 0) + by_status.get(RecordStatus.INTERRUPTED, 0),
        skipped=by_status.get(RecordStatus.SKIPPED, 0),
        waiting=by_status.get(RecordStatus.WAITING, 0),
        pending=by_status.get(RecordStatus.PENDING, 0),
    )


_NOT_DONE = (RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.WAITING)


async def release_chunk(chunk_id: int, owner: str, status: ChunkStatus, *, parked: bool = False) -> bool:
    """End the worker's hold on a chunk; counters recounted, job and plan usage brought up to date.

    ``parked``: every remaining record waits on an answer, so the chunk stays RUNNING
    without a lease until ``complete_wait`` re-opens it.
    """
    now = utcnow()
    async with db.transaction():
        chunk = await Chunk.get_or_none(id=chunk_id, lease_owner=owner)
        if chunk is None:
            return False
        counts = await count_records(chunk_id)
        if parked and counts.pending:
            # An answer came in after the runner counted: run the chunk again rather than park it.
            parked, status = False, ChunkStatus.PENDING
        changes: dict[str, Any] = {
            "status": ChunkStatus.RUNNING if parked else status,
            "lease_owner": None,
            "lease_expires_at": None,
            "done": counts.done,
            "succeeded": counts.succeeded,
            "failed": counts.failed,
            "skipped": counts.skipped,
        }
        if status in (ChunkStatus.COMPLETED, ChunkStatus.FAILED) and not parked:
            changes["ended_at"] = now
        if chunk.status is not ChunkStatus.RUNNING:
            # A force stop or cancel already decided the chunk's status.
            changes.pop("status")
        await Chunk.filter(id=chunk_id).update(**changes)
        newly_done = counts.done - chunk.done
        await Job.filter(id=chunk.job_id).update(
            done=F("done") + newly_done,
            succeeded=F("succeeded") + (counts.succeeded - chunk.succeeded),
            failed=F("failed") + (counts.failed - chunk.failed),
            skipped=F("skipped") + (counts.skipped - chunk.skipped),
            last_progress_at=now,
        )
        if newly_done:
            tenant_id = (await Job.filter(id=chunk.job_id).values_list("tenant_id", flat=True))[0]
            await _count_usage(tenant_id, newly_done)
    await settle_job(chunk.job_id)
    return True


async def _count_usage(tenant_id: int, records: int) -> None:
    month = month_of(utcnow())
    updated = await PlanUsage.filter(tenant_id=tenant_id, month=month).update(
        records_used=F("records_used") + records
    )
    if not updated:
        await PlanUsage.bulk_create(
            [PlanUsage(tenant_id=tenant_id, month=month, records_used=records)],
            ignore_conflicts=True,
        )


# ---------------------------------------------------------------- settling


async def settle_job(job_id: int) -> None:
    """Move the job on if its chunks and children say so: finished, waiting, stopped or canceled."""
    job = await Job.get_or_none(id=job_id)
    if job is None or job.status in TERMINAL or job.status in (JobStatus.PENDING, JobStatus.STOPPED):
        return
    chunk_rows = await db.fetch(
        "SELECT status, lease_owner IS NULL AS unleased, COUNT(*) AS n FROM chunk"
        " WHERE job_id = ? GROUP BY status, lease_owner IS NULL",
        [job_id],
    )
    leased = parked = pending = 0
    for row in chunk_rows:
        status, n = ChunkStatus(row["status"]), int(row["n"])
        if status is ChunkStatus.RUNNING and row["unleased"]:
            parked += n
        elif status is ChunkStatus.RUNNING:
            leased += n
        elif status is ChunkStatus.PENDING:
            pending += n
    children_in_flight = await Job.filter(parent_id=job_id, status__in=IN_FLIGHT).exists()
    children_open = await Job.filter(parent_id=job_id).exclude(status__in=TERMINAL).exists()

    changed: Job | None = None
    if job.status is JobStatus.CANCELING or (job.status is JobStatus.STOPPING and job.stoppable):
        if not leased and not children_in_flight:
            changed = await mark_drained(job_id)
    elif job.enumerated and not (leased or pending or parked or children_open):
        changed = await finish_job(job_id)
    elif job.status is JobStatus.RUNNING and job.enumerated and parked and not (leased or pending):
        changed = await mark_waiting(job_id)
    if changed is not None and changed.status in TERMINAL | {JobStatus.STOPPED} and job.parent_id:
        await settle_job(job.parent_id)


async def settle_idle_wind_downs() -> None:
    """Settle jobs asked to stop or cancel that hold no chunk: no worker's release will.

    A job whose records all wait for answers, or one between two chunks, has
    nothing in flight when the request comes; it drains on the next round.
    """
    rows = await db.fetch(
        "SELECT j.id FROM job j WHERE j.status IN (?, ?) AND NOT EXISTS ("
        " SELECT 1 FROM chunk c WHERE c.job_id = j.id AND c.status = ? AND c.lease_owner IS NOT NULL)",
        [JobStatus.STOPPING.value, JobStatus.CANCELING.value, ChunkStatus.RUNNING.value],
    )
    for row in rows:
        await settle_job(row["id"])


async def reap_expired_leases() -> list[int]:
    """Re-queue chunks whose worker stopped heart-beating; the ids of the jobs touched."""
    now = utcnow()
    expired = await Chunk.filter(
        status=ChunkStatus.RUNNING, lease_expires_at__lt=now
    ).exclude(lease_owner=None).only("id", "job_id", "index", "attempts", "lease_owner")
    jobs: set[int] = set()
    for chunk in expired:
        gave_up = chunk.attempts >= MAX_CHUNK_ATTEMPTS
        moved = await Chunk.filter(
            id=chunk.id, lease_owner=chunk.lease_owner, status=ChunkStatus.RUNNING, lease_expires_at__lt=now
        ).update(
            status=ChunkStatus.FAILED if gave_up else ChunkStatus.PENDING,
            lease_owner=None,
            lease_expires_at=None,
            ended_at=now if gave_up else None,
        )
        if not moved:
            continue
        jobs.add(chunk.job_id)
        await write_logs(
            [
                LogLine(
                    chunk.job_id,
                    LogLevel.ERROR if gave_up else LogLevel.WARNING,
                    f"chunk {chunk.index} lost its worker"
                    + (f" {chunk.attempts} times; giving up" if gave_up else "; running it again"),
                    {"attempts": chunk.attempts},
                    chunk_index=chunk.index,
                )
            ]
        )
    for job_id in jobs:
        await settle_job(job_id)
    return sorted(jobs)


async def hold_enumeration(job_id: int, ttl: timedelta) -> bool:
    """Mark the enumeration as handed to a worker, so it is not handed out twice."""
    now = utcnow()
    return bool(
        await Job.filter(
            Q(enumeration_lease_expires_at=None) | Q(enumeration_lease_expires_at__lt=now),
            id=job_id,
            enumerated=False,
        ).update(enumeration_lease_expires_at=now + ttl)
    )


async def release_enumerations() -> int:
    """Hand every unfinished enumeration out again (the broker lost its messages)."""
    return await Job.filter(enumerated=False).exclude(enumeration_lease_expires_at=None).update(
        enumeration_lease_expires_at=None
    )
