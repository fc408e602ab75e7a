"""Which ready chunks run next: fair per tenant, then per root job, low priority last.

The dispatcher asks ``pick`` for as many chunks as there are free slots. Slots
go one at a time to the tenant with the least work in flight, and within it to
the root job (a job and all its descendants) with the least in flight, so a
root with ten thousand children gets one turn like any small job. Low-priority
chunks get a slot only once no normal chunk is waiting.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q

from domain import db
from domain.clock import utcnow
from domain.models import Chunk
from domain.statuses import DISPATCHABLE, ChunkStatus, JobStatus

QUEUED = "queued"  # the lease owner of a chunk handed to the broker, not yet claimed


@dataclass(frozen=True)
class ReadyChunk:
    chunk_id: int
    job_id: int
    tenant_id: int
    root_id: int
    low_priority: bool


@dataclass
class InFlight:
    by_tenant: Counter[int]
    by_root: Counter[int]

    @property
    def total(self) -> int:
        return sum(self.by_tenant.values())


_RUNNABLE_JOB = (
    "(j.status IN ({statuses}) OR (j.status = ? AND j.stoppable = ?))".format(
        statuses=", ".join(f"'{status.value}'" for status in sorted(DISPATCHABLE))
    )
)


async def ready_chunks(per_root: int) -> list[ReadyChunk]:
    """Up to ``per_root`` dispatchable chunks of every root job, oldest job and chunk first."""
    rows = await db.fetch(
        "SELECT chunk_id, job_id, tenant_id, root_id, low_priority FROM ("
        " SELECT c.id AS chunk_id, c.job_id, j.tenant_id, j.root_id, j.low_priority,"
        "  ROW_NUMBER() OVER (PARTITION BY j.root_id, j.low_priority ORDER BY j.id, c.\"index\") AS rank"
        " FROM chunk c JOIN job j ON j.id = c.job_id"
        " WHERE c.status = ? AND (c.lease_expires_at IS NULL OR c.lease_expires_at < ?)"
        f" AND {_RUNNABLE_JOB}"
        ") ranked WHERE rank <= ? ORDER BY job_id, chunk_id",
        [ChunkStatus.PENDING.value, utcnow(), JobStatus.STOPPING.value, False, per_root],
    )
    return [
        ReadyChunk(
            chunk_id=row["chunk_id"],
            job_id=row["job_id"],
            tenant_id=row["tenant_id"],
            root_id=row["root_id"],
            low_priority=bool(row["low_priority"]),
        )
        for row in rows
    ]


async def in_flight() -> InFlight:
    """Chunks held by workers or queued for them, per tenant and per root job."""
    rows = await db.fetch(
        "SELECT j.tenant_id, j.root_id, COUNT(*) AS n FROM chunk c JOIN job j ON j.id = c.job_id"
        " WHERE c.lease_owner IS NOT NULL AND (c.status <> ? OR c.lease_expires_at >= ?)"
        " GROUP BY j.tenant_id, j.root_id",
        [ChunkStatus.PENDING.value, utcnow()],
    )
    by_tenant: Counter[int] = Counter()
    by_root: Counter[int] = Counter()
    for row in rows:
        by_tenant[row["tenant_id"]] += int(row["n"])
        by_root[row["root_id"]] += int(row["n"])
    return InFlight(by_tenant=by_tenant, by_root=by_root)


def pick(ready: list[ReadyChunk], busy: InFlight, slots: int) -> list[ReadyChunk]:
    """The fair order for ``slots`` chunks: tenant with least in flight, then its least-served root."""
    normal = [chunk for chunk in ready if not chunk.low_priority]
    chosen = _round_robin(normal, busy, slots)
    if len(chosen) < slots and len(chosen) == len(normal):
        low = [chunk for chunk in ready if chunk.low_priority]
        chosen += _round_robin(low, busy, slots - len(chosen))
    return chosen


def _round_robin(ready: list[ReadyChunk], busy: InFlight, slots: int) -> list[ReadyChunk]:
    by_tenant = Counter(busy.by_tenant)
    by_root = Counter(busy.by_root)
    queues: dict[int, dict[int, deque[ReadyChunk]]] = defaultdict(dict)
    for chunk in ready:
        queues[chunk.tenant_id].setdefault(chunk.root_id, deque()).append(chunk)
    # (in flight, tenant id) — the lower id breaks ties, so the order is stable.
    tenants = [(by_tenant[tenant], tenant) for tenant in queues]
    heapq.heapify(tenants)
    chosen: list[ReadyChunk] = []
    while tenants and len(chosen) < slots:
        _, tenant = heapq.heappop(tenants)
        roots = queues[tenant]
        root = min(roots, key=lambda r: (by_root[r], r))
        chunk = roots[root].popleft()
        if not roots[root]:
            del roots[root]
        chosen.append(chunk)
        by_tenant[tenant] += 1
        by_root[root] += 1
        if roots:
            heapq.heappush(tenants, (by_tenant[tenant], tenant))
    return chosen


async def mark_queued(chunk_ids: list[int], ttl: timedelta) -> list[int]:
    """Reserve chunks for the broker; only those still ready are returned."""
    now = utcnow()
    queued = []
    for chunk_id in chunk_ids:
        if await Chunk.filter(
            Q(lease_expires_at=None) | Q(lease_expires_at__lt=now),
            id=chunk_id,
            status=ChunkStatus.PENDING,
        ).update(lease_owner=QUEUED, lease_expires_at=now + ttl):
            queued.append(chunk_id)
    return queued


async def unqueue(chunk_id: int) -> None:
    """A worker that cannot take a queued chunk makes it ready again at once."""
    await Chunk.filter(id=chunk_id, status=ChunkStatus.PENDING, lease_owner=QUEUED).update(
        lease_owner=None, lease_expires_at=None
    )


async def release_queued() -> int:
    """Make every chunk handed to the broker ready again (the broker lost its messages)."""
    return await Chunk.filter(status=ChunkStatus.PENDING, lease_owner=QUEUED).update(
        lease_owner=None, lease_expires_at=None
    )
