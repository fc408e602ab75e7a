"""Which ready work runs next: fair per tenant, then per root job, low priority last.

The order is decided at the moment a worker slot is free, by the database,
never by a queue: the slot takes ``FAIREST_READY_CHUNK`` in one guarded update
(``domain.execution.claim_next_chunk``), so no chunk is ever reserved ahead of
a slot. The next slot goes to the tenant with the least work in flight, and
within it to the root job (a job and all its descendants) with the least in
flight, so a root with ten thousand children gets one turn like any small job.
Ties go to the one that has run fewer chunks so far, then to the oldest root,
then to the oldest job and chunk. Low-priority chunks run only when no normal
chunk is ready.

Enumerations, which create a job's chunks, are handed out in the same spirit:
no more than the workers' enumeration lanes can start, the tenant and then
the root with the fewest in hand first, so a tree of a thousand children
never makes another job wait for its chunks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from domain import db
from domain.clock import utcnow
from domain.statuses import DISPATCHABLE, ChunkStatus, JobStatus


@dataclass
class InFlight:
    by_tenant: Counter[int]
    by_root: Counter[int]

    @property
    def total(self) -> int:
        return sum(self.by_tenant.values())


_PENDING = f"'{ChunkStatus.PENDING.value}'"
_RUNNING = f"'{ChunkStatus.RUNNING.value}'"
# A chunk a worker holds; a RUNNING chunk without a lease is parked (its records wait for answers).
_HELD = f"c.status = {_RUNNING} AND c.lease_owner IS NOT NULL"
# The SQL twin of ``domain.execution.runs_work``: a non-stoppable job keeps working while STOPPING.
_RUNNABLE_JOB = "(j.status IN ({statuses}) OR (j.status = '{stopping}' AND NOT j.stoppable))".format(
    statuses=", ".join(f"'{status.value}'" for status in sorted(DISPATCHABLE)),
    stopping=JobStatus.STOPPING.value,
)
_READY = f"c.status = {_PENDING} AND {_RUNNABLE_JOB}"


def fairest_ready_chunk() -> str:
    """A query for the id of the chunk the next free slot should run; no rows when none is ready.

    On PostgreSQL it locks the row it returns and skips rows other slots are locking,
    so slots claiming at the same moment take different chunks instead of queueing.
    """
    lock = " FOR UPDATE OF c SKIP LOCKED" if db.dialect() == "postgres" else ""
    return (
        # Every root with open chunks: how many it holds now, and how many it has started.
        "WITH roots AS ("
        " SELECT j.tenant_id, j.root_id,"
        f"  SUM(CASE WHEN {_HELD} THEN 1 ELSE 0 END) AS in_flight, COUNT(c.started_at) AS executed"
        " FROM job j JOIN chunk c ON c.job_id = j.id"
        " WHERE j.root_id IN (SELECT j.root_id FROM chunk c JOIN job j ON j.id = c.job_id"
        f"  WHERE c.status IN ({_PENDING}, {_RUNNING}))"
        " GROUP BY j.tenant_id, j.root_id"
        "), tenants AS ("
        " SELECT tenant_id, SUM(in_flight) AS in_flight, SUM(executed) AS executed"
        " FROM roots GROUP BY tenant_id"
        ")"
        " SELECT c.id FROM chunk c JOIN job j ON j.id = c.job_id"
        " JOIN roots r ON r.root_id = j.root_id JOIN tenants t ON t.tenant_id = j.tenant_id"
        f" WHERE {_READY}"
        " ORDER BY j.low_priority, t.in_flight, t.executed, r.in_flight, r.executed, j.root_id, j.id, c.\"index\""
        f" LIMIT 1{lock}"
    )


async def count_ready_chunks(at_most: int) -> int:
    """How many chunks could start now, counting no further than ``at_most``."""
    rows = await db.fetch(
        "SELECT COUNT(*) AS n FROM ("
        f" SELECT 1 FROM chunk c JOIN job j ON j.id = c.job_id WHERE {_READY} LIMIT ?"
        ") ready",
        [at_most],
    )
    return int(rows[0]["n"])


async def in_flight() -> InFlight:
    """Chunks held by workers right now, per tenant and per root job."""
    rows = await db.fetch(
        "SELECT j.tenant_id, j.root_id, COUNT(*) AS n FROM chunk c JOIN job j ON j.id = c.job_id"
        f" WHERE {_HELD} GROUP BY j.tenant_id, j.root_id",
        [],
    )
    by_tenant: Counter[int] = Counter()
    by_root: Counter[int] = Counter()
    for row in rows:
        by_tenant[row["tenant_id"]] += int(row["n"])
        by_root[row["root_id"]] += int(row["n"])
    return InFlight(by_tenant=by_tenant, by_root=by_root)


_RUNNABLE_ENUMERATION = f"NOT j.enumerated AND {_RUNNABLE_JOB}"


async def enumerations_to_hand_out(lanes: int) -> list[int]:
    """The jobs whose enumeration the free ones of ``lanes`` should run, fairest first.

    An enumeration is in hand from its hand-out until it ends (or its hold runs out);
    ``turn`` numbers how many a tenant (or a root) would have in hand with this one.
    """
    now = utcnow()
    held = await db.fetch(
        f"SELECT COUNT(*) AS n FROM job j WHERE {_RUNNABLE_ENUMERATION} AND j.enumeration_lease_expires_at >= ?",
        [now],
    )
    free = lanes - int(held[0]["n"])
    if free <= 0:
        return []
    rows = await db.fetch(
        "WITH held AS ("
        f" SELECT j.tenant_id, j.root_id, COUNT(*) AS n FROM job j WHERE {_RUNNABLE_ENUMERATION}"
        "  AND j.enumeration_lease_expires_at >= ? GROUP BY j.tenant_id, j.root_id"
        "), due AS ("
        " SELECT j.id, j.tenant_id, j.low_priority,"
        "  COALESCE((SELECT SUM(h.n) FROM held h WHERE h.root_id = j.root_id), 0)"
        "  + ROW_NUMBER() OVER (PARTITION BY j.root_id ORDER BY j.id) AS root_turn"
        f" FROM job j WHERE {_RUNNABLE_ENUMERATION}"
        "  AND (j.enumeration_lease_expires_at IS NULL OR j.enumeration_lease_expires_at < ?)"
        "), turns AS ("
        " SELECT id, low_priority,"
        "  COALESCE((SELECT SUM(h.n) FROM held h WHERE h.tenant_id = due.tenant_id), 0)"
        "  + ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY root_turn, id) AS tenant_turn"
        " FROM due"
        ") SELECT id FROM turns ORDER BY low_priority, tenant_turn, id LIMIT ?",
        [now, now, free],
    )
    return [row["id"] for row in rows]
