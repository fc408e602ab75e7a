"""Which ready work runs next: fair per tenant, then per root job, low priority last.

The order is decided at the moment a worker slot is free, by the database,
never by a queue: the slot takes ``fairest_ready_chunk()`` in one guarded
update (``domain.execution.claim_next_chunk``), so no chunk is ever reserved
ahead of a slot. The next slot goes to the tenant with the least work in
flight, and within it to the root job (a job and all its descendants) with the
least in flight, so a root with ten thousand children gets one turn like any
small job. Ties go to the one whose jobs have done fewer records so far (with
one slot, nothing is ever in flight when it claims), then to the oldest root,
then to the root's oldest job and that job's first chunk. Low-priority chunks
run only when no normal chunk is ready.

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
# A chunk a worker slot holds: taken (QUEUED) or running. One a job's verb stopped under its
# worker is let go within a batch, and is not counted.
_HELD = "c.status IN ({statuses}) AND c.lease_owner IS NOT NULL".format(
    statuses=", ".join(f"'{status.value}'" for status in (ChunkStatus.QUEUED, ChunkStatus.RUNNING))
)
# The SQL twin of ``domain.statuses.keeps_working``: a non-stoppable job keeps working while STOPPING.
_RUNNABLE_JOB = "(j.status IN ({statuses}) OR (j.status = '{stopping}' AND NOT j.stoppable))".format(
    statuses=", ".join(f"'{status.value}'" for status in sorted(DISPATCHABLE)),
    stopping=JobStatus.STOPPING.value,
)
_READY = f"c.status = {_PENDING} AND {_RUNNABLE_JOB}"
_HAS_READY_CHUNK = f"EXISTS (SELECT 1 FROM chunk c WHERE c.job_id = j.id AND c.status = {_PENDING})"

# The fairest job with a ready chunk: first the root (its tenant, then itself), then
# the root's oldest job with a ready chunk, of normal priority if it has one.
_FAIREST_READY_JOB = (
    # Chunks held now, per root: a few rows, at most one per worker slot.
    "WITH held AS ("
    " SELECT j.tenant_id, j.root_id, SUM(c.n) AS n FROM job j"
    f" JOIN (SELECT c.job_id, COUNT(*) AS n FROM chunk c WHERE {_HELD} GROUP BY c.job_id) c ON c.job_id = j.id"
    " GROUP BY j.tenant_id, j.root_id"
    # Roots with a job that may run: in flight, records done so far, and whether work is ready.
    "), roots AS ("
    " SELECT o.tenant_id, o.root_id,"
    "  COALESCE((SELECT SUM(h.n) FROM held h WHERE h.root_id = o.root_id), 0) AS in_flight,"
    "  (SELECT SUM(j.done) FROM job j WHERE j.root_id = o.root_id) AS executed,"
    f"  EXISTS (SELECT 1 FROM job j WHERE j.root_id = o.root_id AND {_RUNNABLE_JOB}"
    f"   AND NOT j.low_priority AND {_HAS_READY_CHUNK}) AS normal_ready,"
    f"  EXISTS (SELECT 1 FROM job j WHERE j.root_id = o.root_id AND {_RUNNABLE_JOB}"
    f"   AND j.low_priority AND {_HAS_READY_CHUNK}) AS low_ready"
    f" FROM (SELECT DISTINCT j.tenant_id, j.root_id FROM job j WHERE {_RUNNABLE_JOB}) o"
    "), tenants AS ("
    " SELECT r.tenant_id, SUM(r.executed) AS executed,"
    "  COALESCE((SELECT SUM(h.n) FROM held h WHERE h.tenant_id = r.tenant_id), 0) AS in_flight"
    " FROM roots r GROUP BY r.tenant_id"
    "), chosen AS ("
    " SELECT r.root_id, r.normal_ready FROM roots r JOIN tenants t ON t.tenant_id = r.tenant_id"
    " WHERE r.normal_ready OR r.low_ready"
    " ORDER BY r.normal_ready DESC, t.in_flight, t.executed, r.in_flight, r.executed, r.root_id LIMIT 1"
    ")"
    " SELECT j.id FROM job j JOIN chosen ON chosen.root_id = j.root_id"
    f" WHERE {_RUNNABLE_JOB} AND j.low_priority <> chosen.normal_ready AND {_HAS_READY_CHUNK}"
    " ORDER BY j.id LIMIT 1"
)


def fairest_ready_chunk() -> str:
    """A query for the id of the chunk the next free slot should run; no rows when none is ready.

    On PostgreSQL it locks the chunk it returns and skips chunks other slots are
    locking, so slots claiming at the same moment take different chunks.
    """
    lock = " FOR UPDATE SKIP LOCKED" if db.dialect() == "postgres" else ""
    return (
        f"SELECT c.id FROM chunk c WHERE c.status = {_PENDING} AND c.job_id = ({_FAIREST_READY_JOB})"
        f" ORDER BY c.\"index\" LIMIT 1{lock}"
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
