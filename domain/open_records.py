"""Records without an outcome yet, as a screen shows them: a job's that wait for answers, and the
ones a chunk's worker has in hand.

A worker writes a record's row when the record reaches an outcome or a wait, a batch at a
time, and moves the chunk's ``cursor`` past the fresh records it wrote in the same
transaction (``domain.execution.save_results``). So while a worker holds a chunk it has
started, the records it has in hand are those from the cursor to the end of the range,
and the ones answered after a wait (PENDING rows), which it runs first: they run now or
in the batches that follow, and their outcomes are written with the next flush. A chunk
whose lease ran out has nothing in hand: its worker is gone, and the chunk runs again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain import db
from domain.models import Chunk
from domain.partitions import in_partitions, partitions_of_jobs
from domain.report_sql import as_utc
from domain.statuses import ChunkStatus, RecordStatus

# A chunk a worker has started and still holds: running, or stopped, failed or canceled by its
# job's verb while the worker writes what it had in flight.
_STARTED_UNDER_A_WORKER = frozenset(
    {ChunkStatus.RUNNING, ChunkStatus.STOPPED, ChunkStatus.FAILED, ChunkStatus.CANCELED}
)


@dataclass(frozen=True)
class WaitingRecords:
    count: int
    # When the longest wait began; None for waits recorded before that was kept.
    since: datetime | None


@dataclass(frozen=True)
class InFlight:
    count: int
    # The first position in hand: the first answered record, else the cursor.
    from_position: int


async def waiting_records(job_ids: Sequence[int]) -> dict[int, WaitingRecords]:
    """Per job, its records that wait for an answer; jobs with none are missing."""
    if not job_ids:
        return {}
    kept, partitions = in_partitions(await partitions_of_jobs(list(job_ids)))
    rows = await db.fetch(
        "SELECT job_id, COUNT(*) AS n, MIN(waiting_since) AS since FROM record"
        f" WHERE job_id IN ({', '.join('?' for _ in job_ids)}) AND status = ? AND {kept} GROUP BY job_id",
        [*job_ids, RecordStatus.WAITING.value, *partitions],
    )
    return {
        row["job_id"]: WaitingRecords(int(row["n"]), None if row["since"] is None else as_utc(row["since"]))
        for row in rows
    }


def holds_records(chunk: Chunk, now: datetime) -> bool:
    """Whether a worker has started ``chunk`` and holds it now."""
    return (
        chunk.status in _STARTED_UNDER_A_WORKER
        and chunk.lease_owner is not None
        and chunk.lease_expires_at is not None
        and chunk.lease_expires_at > now
    )


async def records_in_flight(chunks: Sequence[Chunk], now: datetime) -> dict[int, InFlight]:
    """Per chunk, the records its worker has in hand; chunks with none are missing."""
    held = [chunk for chunk in chunks if holds_records(chunk, now)]
    if not held:
        return {}
    # Answered records are behind the cursor: the worker wrote them when they began to wait.
    kept, partitions = in_partitions(await partitions_of_jobs(sorted({chunk.job_id for chunk in held})), "r.partition_id")
    rows = await db.fetch(
        "SELECT r.chunk_id, COUNT(*) AS n, MIN(r.position) AS first FROM record r JOIN chunk c ON c.id = r.chunk_id"
        f" WHERE r.chunk_id IN ({', '.join('?' for _ in held)}) AND r.status = ? AND r.position < c.cursor"
        f" AND {kept} GROUP BY r.chunk_id",
        [*(chunk.id for chunk in held), RecordStatus.PENDING.value, *partitions],
    )
    answered = {row["chunk_id"]: (int(row["n"]), int(row["first"])) for row in rows}
    found = {}
    for chunk in held:
        count, first = answered.get(chunk.id, (0, chunk.cursor))
        fresh = max(0, chunk.range_end - chunk.cursor)
        if count + fresh:
            found[chunk.id] = InFlight(count + fresh, min(first, chunk.cursor) if fresh else first)
    return found
