"""The verbs of a chunk's life: every write of a chunk's status is one of these.

Each is a guarded conditional update: it moves only chunks in the statuses that
``CHUNK_TRANSITIONS`` allows for its operation (``UPDATE chunk … WHERE status IN
(…)``), so writers racing over a chunk leave one valid history. A worker's verbs
are also guarded by its lease: a worker that lost the chunk writes nothing more.

A job's verb may stop, fail or cancel a chunk that a worker is running. The chunk
takes its new status at once (no RUNNING chunk under a STOPPED job) and keeps
the worker as its lease owner until the worker has written what it had in
flight; ``release`` then only lets go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F

from domain import db
from domain.clock import utcnow
from domain.models import Chunk, Job, Record
from domain.rollup import forget_end_of
from domain.statuses import (
    CHUNK_TERMINAL,
    ChunkOperation,
    ChunkStatus,
    JobStatus,
    RecordStatus,
    check_chunk_transition,
    record_sources,
    chunk_sources,
    chunk_target,
)

# A chunk that lost its worker this many times is given up (FAILED) instead of run again.
MAX_CHUNK_ATTEMPTS = 5
CHUNKS_PER_INSERT = 200

CO = ChunkOperation


async def create(job: Job, first_index: int, first_position: int, keys: Sequence[str]) -> int:
    """PENDING chunks, ready now, for ``keys`` (consecutive from ``first_position``); how many.
    One that exists already is kept, so writing them again after a crash is safe."""
    rows = []
    now = utcnow()
    for offset in range(0, len(keys), job.chunk_size):
        part = list(keys[offset : offset + job.chunk_size])
        start = first_position + offset
        rows.append(
            Chunk(
                job_id=job.id,
                index=first_index + len(rows),
                range_start=start,
                range_end=start + len(part),
                cursor=start,
                keys=part,
                ready_at=now,
            )
        )
    for offset in range(0, len(rows), CHUNKS_PER_INSERT):
        await Chunk.bulk_create(rows[offset : offset + CHUNKS_PER_INSERT], ignore_conflicts=True)
    return len(rows)


async def _move(
    operation: ChunkOperation, *, keep_owner: bool = False, at: datetime | None = None, **where: Any
) -> int:
    """Move the chunks ``where`` selects that ``operation`` may move; how many moved.

    ``at``: when a chunk that ends now ended (its job's end, when the job ends with it).
    """
    target = chunk_target(operation)
    changes: dict[str, Any] = {"status": target, **_stamps(target, at)}
    if not keep_owner:
        changes.update(lease_owner=None, lease_expires_at=None)
    return await Chunk.filter(status__in=chunk_sources(operation), **where).update(**changes)


def _stamps(target: ChunkStatus, at: datetime | None = None) -> dict[str, datetime]:
    """What a chunk moving to ``target`` records besides its status: when it became ready to
    run again, or when it ended."""
    if target is ChunkStatus.PENDING:
        return {"ready_at": utcnow()}
    if target in CHUNK_TERMINAL:
        return {"ended_at": at or utcnow()}
    return {}


# ---------------------------------------------------------------- a worker slot's verbs


async def claim(chunk_id: int, owner: str, ttl: timedelta) -> bool:
    """A free worker slot takes a PENDING chunk: QUEUED under ``owner``'s lease."""
    return bool(
        await Chunk.filter(id=chunk_id, status__in=chunk_sources(CO.CLAIM)).update(
            status=chunk_target(CO.CLAIM),
            lease_owner=owner,
            lease_expires_at=utcnow() + ttl,
            attempts=F("attempts") + 1,
        )
    )


async def start(chunk_id: int, owner: str) -> bool:
    """The worker starts the chunk's records; False if a job's verb took it back meanwhile."""
    sources = [status.value for status in chunk_sources(CO.START)]
    started = await db.fetch(
        "UPDATE chunk SET status = ?, started_at = COALESCE(started_at, ?)"
        f" WHERE id = ? AND lease_owner = ? AND status IN ({', '.join('?' * len(sources))}) RETURNING id",
        [chunk_target(CO.START).value, utcnow(), chunk_id, owner, *sources],
    )
    return bool(started)


async def extend_lease(chunk_id: int, owner: str, ttl: timedelta) -> bool:
    """The worker's heartbeat; False when the chunk is no longer its own."""
    return bool(
        await Chunk.filter(id=chunk_id, lease_owner=owner).update(lease_expires_at=utcnow() + ttl)
    )


async def release(chunk_id: int, owner: str, operation: ChunkOperation) -> Chunk | None:
    """The worker lets go of its chunk, moving it by ``operation``; None if it was not its own.

    If a job's verb already moved the chunk (a force stop, a failed run, a cancel),
    that status stands and only the lease goes. A chunk about to be parked whose
    records got an answer meanwhile is handed back to run them instead.
    """
    async with db.transaction():
        chunk = await Chunk.get_or_none(id=chunk_id, lease_owner=owner)
        if chunk is None:
            return None
        if operation is CO.PARK and await Record.exists(chunk_id=chunk_id, status=RecordStatus.PENDING):
            operation = CO.REQUEUE
        changes: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
        if chunk.status in chunk_sources(operation):
            changes["status"] = check_chunk_transition(chunk.status, operation)
            changes.update(_stamps(changes["status"]))
        await Chunk.filter(id=chunk_id, lease_owner=owner).update(**changes)
        chunk.status = changes.get("status", chunk.status)
    return chunk


@dataclass(frozen=True)
class LostLease:
    job_id: int
    index: int
    attempts: int
    gave_up: bool


async def reap_expired() -> list[LostLease]:
    """Chunks whose worker stopped heart-beating run again (or are given up after too many tries).

    A chunk a job's verb already moved only loses the dead worker's lease.
    """
    now = utcnow()
    expired = await Chunk.filter(lease_expires_at__lt=now).exclude(lease_owner=None).only(
        "id", "job_id", "index", "attempts", "lease_owner", "status"
    )
    lost = []
    for chunk in expired:
        gave_up = chunk.attempts >= MAX_CHUNK_ATTEMPTS
        operation = CO.FAIL if gave_up else CO.REQUEUE
        held = {"id": chunk.id, "lease_owner": chunk.lease_owner, "lease_expires_at__lt": now}
        if chunk.status not in chunk_sources(CO.REQUEUE):
            await Chunk.filter(**held).update(lease_owner=None, lease_expires_at=None)
        elif await _move(operation, **held):
            lost.append(LostLease(chunk.job_id, chunk.index, chunk.attempts, gave_up))
    return lost


async def answer(chunk_id: int) -> None:
    """A record of a parked chunk got its answer: the chunk is ready to run it."""
    await _move(CO.ANSWER, id=chunk_id)


# ---------------------------------------------------------------- a job's verbs on its chunks


async def stop_idle(job_id: int) -> None:
    """The job stopped: chunks no worker runs keep their cursor. A RUNNING chunk's worker
    stops it itself when its current batch is written."""
    await _move(CO.STOP, job_id=job_id, status__not=ChunkStatus.RUNNING)


async def force_stop(job_id: int) -> None:
    """The job was force-stopped: every open chunk stops now; workers write what they cut off."""
    await _move(CO.STOP, job_id=job_id, status=ChunkStatus.RUNNING, keep_owner=True)
    await stop_idle(job_id)


async def resume(job_id: int) -> None:
    await _move(CO.RESUME, job_id=job_id)


async def follow_job(job_id: int) -> None:
    """Chunks written after their job stopped, failed or was canceled take the status its verb
    gave the others.

    Called once the chunks are committed. The job row is read under a row lock, which
    waits for a verb changing the job to commit: either that verb's effect saw the
    chunks, or this read sees the verb's status.
    """
    async with db.transaction():
        job = await Job.select_for_update().get_or_none(id=job_id).only("id", "status", "ended_at")
    if job is None:
        return
    if job.status is JobStatus.STOPPED:
        await stop_idle(job_id)
    elif job.status is JobStatus.FAILED:
        await fail_open(job_id, job.ended_at)
    elif job.status is JobStatus.CANCELED:
        await cancel_open(job_id, job.ended_at)


async def fail_open(job_id: int, at: datetime) -> None:
    """The job's run failed at ``at``: its open chunks are given up."""
    await _move(CO.FAIL, job_id=job_id, status=ChunkStatus.RUNNING, keep_owner=True, at=at)
    await _move(CO.FAIL, job_id=job_id, at=at)


async def cancel_open(job_id: int, at: datetime) -> None:
    """The job was canceled at ``at``: its open chunks are discarded, and so are the records in them."""
    await _move(CO.CANCEL, job_id=job_id, status=ChunkStatus.RUNNING, keep_owner=True, at=at)
    await _move(CO.CANCEL, job_id=job_id, at=at)
    await _cancel_open_records(job_id, at)


async def _cancel_open_records(job_id: int, now: datetime) -> None:
    """A canceled job's records that never got an outcome become CANCELED rows, and count.

    Open rows (answered or waiting) change status; positions never run get a row from
    their chunk's keys, in one statement. The canceled counters are then counted from
    the rows, chunk by chunk, so they stay exact.
    """
    partition = await Job.get(id=job_id).values_list("partition_id", flat=True)
    await Record.filter(
        job_id=job_id, partition_id=partition, status__in=record_sources(RecordStatus.CANCELED)
    ).update(status=RecordStatus.CANCELED, ended_at=now)
    if db.dialect() == "postgres":
        await db.fetch(
            "INSERT INTO record (job_id, partition_id, chunk_id, position, key, status, attempts, ended_at, journey)"
            " SELECT c.job_id, ?, c.id, c.range_start + k.n - 1, k.key, ?, 0, ?, '[]'::jsonb"
            " FROM chunk c CROSS JOIN LATERAL jsonb_array_elements_text(c.keys) WITH ORDINALITY AS k(key, n)"
            " WHERE c.job_id = ? AND c.range_start + k.n - 1 >= c.cursor"
            " ON CONFLICT (job_id, position, partition_id) DO NOTHING",
            [partition, RecordStatus.CANCELED.value, now, job_id],
        )
    else:
        await db.fetch(
            "INSERT OR IGNORE INTO record"
            " (job_id, partition_id, chunk_id, position, key, status, attempts, ended_at, journey) SELECT c.job_id, ?, c.id, c.range_start + k.key, k.value, ?, 0, ?, '[]'"
            " FROM chunk c, json_each(c.keys) AS k WHERE c.job_id = ? AND c.range_start + k.key >= c.cursor",
            [partition, RecordStatus.CANCELED.value, now, job_id],
        )
    await db.fetch(
        "UPDATE chunk SET canceled = (SELECT COUNT(*) FROM record r"
        " WHERE r.chunk_id = chunk.id AND r.partition_id = ? AND r.status = ?) WHERE job_id = ?",
        [partition, RecordStatus.CANCELED.value, job_id],
    )
    await db.fetch(
        "UPDATE chunk SET done = succeeded + failed + skipped + interrupted + canceled WHERE job_id = ?", [job_id]
    )
    await db.fetch(
        "UPDATE job SET canceled = (SELECT COALESCE(SUM(canceled), 0) FROM chunk WHERE job_id = job.id),"
        " done = (SELECT COALESCE(SUM(done), 0) FROM chunk WHERE job_id = job.id) WHERE id = ?",
        [job_id],
    )
    # A job canceled while it enumerated counts these where it ended, maybe hours ago.
    await forget_end_of(job_id)
