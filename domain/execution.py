"""What workers do to the persisted state: enumerate, lease chunks, write outcomes, settle jobs.

Leases make recovery safe. A chunk is RUNNING under one ``lease_owner``; every
write a worker makes is guarded by that owner, so a worker that lost its lease
(it stalled, the reaper re-queued the chunk) writes nothing more. Outcomes are
written under the database's unique ``(job, position)`` key, and a row already
there is kept (``ON CONFLICT DO NOTHING``): a record re-run after a crash can
never get a second outcome.
The counters of the chunk and its job are raised in the transaction that writes
the records, by exactly the rows written, so a pull refresh and every event show
the same figures, and they never go down (``domain.counts``).
Chunk status writes are the verbs of ``domain.chunks``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from tortoise.expressions import Q

from domain import chunks, db
from domain.access import Actor, PlatformActor
from domain.clock import utcnow
from domain.counts import Counts
from domain.jobs import fail_job, finish_job, lead_children, mark_drained, mark_running, mark_waiting, start_running
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Chunk, Job, Record
from domain.rollup import forget_end_of
from domain.scheduling import fairest_ready_chunk
from domain.statuses import (
    FOLLOWED,
    RECORD_RETRYABLE,
    TERMINAL,
    ChunkOperation,
    ChunkStatus,
    JobStatus,
    RecordStatus,
    check_record_transition,
    chunk_target,
    keeps_working,
)
from domain.wakeups import work_ready


# ---------------------------------------------------------------- enumeration


async def begin_enumeration(job_id: int, ttl: timedelta) -> Job | None:
    """The job, if it still needs its chunks; None if it is gone or moved on.

    A PENDING job stays PENDING: it starts when its first chunk does,
    so a job whose chunks queue behind other work keeps counting its waiting time.
    """
    job = await Job.get_or_none(id=job_id)
    if job is None or job.enumerated or not keeps_working(job.status, job.stoppable):
        return None
    job.enumeration_lease_expires_at = utcnow() + ttl
    await Job.filter(id=job_id).update(enumeration_lease_expires_at=job.enumeration_lease_expires_at)
    return job


async def add_chunks(job: Job, first_index: int, first_position: int, keys: Sequence[str]) -> int:
    """Chunk rows for ``keys`` (``domain.chunks.create``); safe to repeat after a crash.

    A job stopped, failed or canceled while its records were being enumerated has
    already moved the chunks it had: the new ones follow it (``domain.chunks.follow_job``).
    """
    created = await chunks.create(job, first_index, first_position, keys)
    await chunks.follow_job(job.id)
    return created


async def extend_enumeration(job_id: int, ttl: timedelta) -> None:
    await Job.filter(id=job_id).update(enumeration_lease_expires_at=utcnow() + ttl)


async def enumerated_job_status(job_id: int) -> JobStatus | None:
    """The status of a job being enumerated, or None if it is gone."""
    status = await Job.filter(id=job_id).values_list("status", flat=True)
    return JobStatus(status[0]) if status else None


async def end_enumeration(job_id: int, total: int) -> None:
    await Job.filter(id=job_id).update(
        enumerated=True, total=total, enumeration_lease_expires_at=None
    )
    if total == 0:
        # No chunk will ever start a job without records: it starts here, and finishes.
        await mark_running(job_id)
    await settle_job(job_id)


async def enumeration_failed(job_id: int, error: str) -> None:
    await fail_run(job_id, f"enumeration failed: {error}")


async def fail_run(job_id: int, error: str) -> None:
    """The run failed (its enumeration, or a step that failed the job): the job FAILS, and its
    parent, which may have been waiting for it alone, settles."""
    failed = await fail_job(job_id, error)
    if failed is not None and failed.parent_id:
        await settle_job(failed.parent_id)


async def failed_record_keys(job_id: int) -> list[str]:
    """The records a retry job runs again: those that failed or were interrupted."""
    partition = await Job.filter(id=job_id).values_list("partition_id", flat=True)
    return await Record.filter(job_id=job_id, partition_id__in=partition, status__in=RECORD_RETRYABLE).order_by(
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
    """A free slot of ``owner`` takes the fairest ready chunk (``domain.scheduling``), QUEUED under
    its lease; None when none is ready.

    One guarded update picks and leases the chunk, so two slots never take the same one
    and the order is the fair one at this very moment. The chunk (and its job) start
    when the worker starts its records (``start_chunk``).
    """
    rows = await db.fetch(
        "UPDATE chunk SET status = ?, lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1"
        f" WHERE status = ? AND id = ({fairest_ready_chunk()}) RETURNING id",
        [chunk_target(ChunkOperation.CLAIM).value, owner, utcnow() + ttl, ChunkStatus.PENDING.value],
    )
    if not rows:
        return None
    chunk = await Chunk.get(id=rows[0]["id"]).select_related("job")
    job = chunk.job
    # Only a run of the chunk writes its records: on its first claim it has none.
    existing = {} if chunk.attempts == 1 else {
        record.position: record
        for record in await Record.filter(chunk_id=chunk.id, partition_id=job.partition_id).only(
            "id", "position", "key", "status", "wait_payload", "journey", "attempts", "started_at"
        )
    }
    return ClaimedChunk(chunk=chunk, job=job, existing=existing)


async def start_chunk(claimed: ClaimedChunk, owner: str) -> bool:
    """The worker starts the claimed chunk's records; its job starts with its first chunk."""
    if not await chunks.start(claimed.chunk.id, owner):
        return False
    if claimed.job.status is JobStatus.PENDING:
        await start_running(claimed.job)  # reads it again
    else:
        await claimed.job.refresh_from_db()
    return True


async def heartbeat(chunk_id: int, owner: str, ttl: timedelta) -> JobStatus | None:
    """Extend the lease; the job's status, or None when the lease is lost."""
    if not await chunks.extend_lease(chunk_id, owner, ttl):
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
    # When a record that waits asked for its answer.
    waiting_since: datetime | None = None


class _LeaseLost(Exception):
    pass


async def save_results(
    job: Job, chunk_id: int, owner: str, results: Sequence[RecordResult], cursor: int
) -> Counts | None:
    """Write a batch of outcomes of ``job``'s chunk, the chunk cursor and the counters in one
    transaction.

    Returns what the batch added to the counters, or None if the lease is lost (then
    nothing is written). Only rows actually written count: a record that already had
    its outcome keeps it and counts once.
    """
    for result in results:
        check_record_transition(RecordStatus.RUNNING, result.status)
    try:
        async with db.transaction():
            new = [result for result in results if result.record_id is None]
            written = await _insert_records(job, chunk_id, new) if new else []
            for result in results:
                if result.record_id is not None and await Record.filter(
                    id=result.record_id, partition_id=job.partition_id, status=RecordStatus.PENDING
                ).update(
                    status=result.status,
                    error=result.error,
                    ended_at=result.ended_at,
                    journey=result.journey,
                    attempts=result.attempts,
                    wait_payload=None,
                    wait_deadline=result.wait_deadline,
                    waiting_since=result.waiting_since,
                ):
                    written.append(result.status)
            added = Counts.of_statuses(written)
            # The job row before the chunk row, as a job's verbs lock them: two writers that
            # take them in the other order deadlock.
            if added:
                await Job.filter(id=job.id).update(last_progress_at=utcnow(), **added.increments())
                # Records in flight when their job stopped or failed count where it ended.
                await forget_end_of(job.id)
            if not await Chunk.filter(id=chunk_id, lease_owner=owner).update(
                cursor=cursor, **added.increments()
            ):
                raise _LeaseLost
    except _LeaseLost:
        return None
    return added


_JOURNEY_JSON = msgspec.json.Encoder()
_JOURNEY_JSON_FALLBACK = json.JSONEncoder(separators=(",", ":"))


def _encode_journey(journey: list[Any]) -> str:
    """A journey's JSON: msgspec takes a tenth of json's time per record (0.24 against 2.5 µs);
    a step's detail msgspec cannot write (a dict with bool keys) goes to json."""
    try:
        return _JOURNEY_JSON.encode(journey).decode()
    except (TypeError, msgspec.EncodeError):
        return _JOURNEY_JSON_FALLBACK.encode(journey)


_RECORD_COLUMNS = (
    "job_id", "partition_id", "chunk_id", "position", "key", "status", "error", "attempts", "started_at",
    "ended_at", "journey", "wait_deadline", "waiting_since",
)


async def _insert_records(job: Job, chunk_id: int, results: Sequence[RecordResult]) -> list[RecordStatus]:
    """Insert the rows of fresh records; the statuses of those written (a row already there stays)."""
    rows = [
        (
            job.id,
            job.partition_id,
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
            r.waiting_since,
        )
        for r in results
    ]
    columns = ", ".join(_RECORD_COLUMNS)
    if db.dialect() != "postgres":
        # SQLite has one writer: the positions taken are read in the same transaction.
        taken = set(
            await Record.filter(
                chunk_id=chunk_id, partition_id=job.partition_id, position__in=[r.position for r in results]
            ).values_list("position", flat=True)
        )
        fresh = [row for row, r in zip(rows, results) if r.position not in taken]
        await Record._meta.db.execute_many(
            f"INSERT INTO record ({columns}) VALUES ({', '.join('?' * len(_RECORD_COLUMNS))})",
            fresh,
        )
        return [r.status for r in results if r.position not in taken]
    if await _copy_records(rows):
        return [r.status for r in results]
    # A row is already there: keep it, write the rest. Arrays travel in asyncpg's binary format.
    inserted = await db.fetch(
        f"INSERT INTO record ({columns}) SELECT * FROM unnest(?::bigint[], ?::int[], ?::bigint[], ?::bigint[],"
        " ?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::timestamptz[],"
        " ?::text[]::jsonb[], ?::timestamptz[], ?::timestamptz[])"
        # A partitioned table's unique key holds its partition key (domain.partitions).
        " ON CONFLICT (job_id, position, partition_id) DO NOTHING RETURNING status",
        [list(column) for column in zip(*rows)],
    )
    return [RecordStatus(row["status"]) for row in inserted]


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


async def tally_records(job: Job, chunk_id: int) -> dict[RecordStatus, int]:
    """How many of ``job``'s chunk's records have each status (records without a row are not in it)."""
    rows = await db.fetch(
        "SELECT status, COUNT(*) AS n FROM record WHERE chunk_id = ? AND partition_id = ? GROUP BY status",
        [chunk_id, job.partition_id],
    )
    return {RecordStatus(row["status"]): int(row["n"]) for row in rows}


async def release_chunk(
    chunk_id: int, owner: str, operation: ChunkOperation, *, run_failure: str | None = None
) -> bool:
    """The worker lets go of its chunk (``domain.chunks.release``) and the job moves on if it may.

    ``run_failure``: a step failed the whole run; the job fails with it before it is
    settled, which would otherwise finish a job whose last chunk this is.
    """
    chunk = await chunks.release(chunk_id, owner, operation)
    if chunk is None:
        return False
    if run_failure is not None:
        await fail_run(chunk.job_id, run_failure)
    await settle_job(chunk.job_id)
    return True


# ---------------------------------------------------------------- settling


async def settle_job(job_id: int, by: PlatformActor = Actor.worker) -> None:
    """Move the job on if its chunks and children say so: finished, waiting, stopped or canceled.

    ``by``: who noticed, for the job's history: a worker releasing a chunk, or the system.
    """
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
        if not row["unleased"]:  # a worker holds it, or winds it down
            leased += n
        elif status is ChunkStatus.WAITING:
            parked += n
        elif status is ChunkStatus.PENDING:
            pending += n
    children_open = await Job.filter(parent_id=job_id).exclude(status__in=TERMINAL).exists()

    changed: Job | None = None
    if job.status is JobStatus.CANCELING or (job.status is JobStatus.STOPPING and job.stoppable):
        children_behind = await Job.filter(parent_id=job_id).exclude(status__in=FOLLOWED[job.status]).exists()
        if not leased and not children_behind:
            changed = await mark_drained(job_id, by)
    elif job.enumerated and not (leased or pending or parked or children_open):
        changed = await finish_job(job_id, by)
    elif job.status is JobStatus.RUNNING and job.enumerated and parked and not (leased or pending):
        changed = await mark_waiting(job_id, by)
    if changed is not None and changed.status in TERMINAL | {JobStatus.STOPPED} and job.parent_id:
        await settle_job(job.parent_id, by)


async def settle_idle_wind_downs() -> None:
    """Settle jobs asked to stop or cancel that hold no chunk: no worker's release will.

    A job whose records all wait for answers, or one between two chunks, has
    nothing in flight when the request comes; it drains on the next round. Its
    children that have not followed it yet (the request's cascade was cut short) do first.
    """
    rows = await db.fetch(
        "SELECT j.id FROM job j WHERE j.status IN (?, ?) AND NOT EXISTS ("
        " SELECT 1 FROM chunk c WHERE c.job_id = j.id AND c.lease_owner IS NOT NULL)",
        [JobStatus.STOPPING.value, JobStatus.CANCELING.value],
    )
    for row in rows:
        await lead_children(row["id"])
        await settle_job(row["id"], by=Actor.system)


async def reap_expired_leases() -> list[chunks.LostLease]:
    """Chunks whose worker stopped heart-beating run again (or are given up); which they were."""
    lost = await chunks.reap_expired()
    await write_logs(
        [
            LogLine(
                chunk.job_id,
                LogLevel.ERROR if chunk.gave_up else LogLevel.WARNING,
                f"chunk {chunk.index} lost its worker"
                + (f" {chunk.attempts} times; giving up" if chunk.gave_up else "; running it again"),
                {"attempts": chunk.attempts},
                chunk_index=chunk.index,
            )
            for chunk in lost
        ]
    )
    for job_id in sorted({chunk.job_id for chunk in lost}):
        await settle_job(job_id, by=Actor.system)
    return lost


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


async def release_enumerations(job_id: int | None = None) -> int:
    """Hand unfinished enumerations out again: every one (the broker lost its messages), or
    ``job_id``'s (its worker drains); how many."""
    held = Job.filter(enumerated=False).exclude(enumeration_lease_expires_at=None)
    released = await (held.filter(id=job_id) if job_id is not None else held).update(
        enumeration_lease_expires_at=None
    )
    if released:
        await work_ready()
    return released
