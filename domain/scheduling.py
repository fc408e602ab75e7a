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

``queue_state`` reads what that order is decided from, for the forecast of who
starts when (``domain.estimates``), and ``fair_order`` is the claim's ORDER BY
as a sort key: the forecast replays claims the way the database would make them.

Enumerations, which create a job's chunks, are handed out in the same spirit:
no more than the workers' enumeration lanes can start, the tenant and then
the root with the fewest in hand first, so a tree of a thousand children
never makes another job wait for its chunks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from domain import db
from domain.clock import utcnow
from domain.report_sql import as_utc
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
    # fair_order is this ORDER BY, for a root with ready work of the class chosen.
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


def fair_order(
    tenant_in_flight: int, tenant_executed: float, root_in_flight: int, root_executed: float, root_id: int
) -> tuple[float, ...]:
    """Which root a free slot serves first, lowest first: the claim's ORDER BY among the roots
    with ready work of the same priority class (normal work before low priority). Within
    the root, its oldest job of that class with a ready chunk, and that job's first chunk."""
    return (tenant_in_flight, tenant_executed, root_in_flight, root_executed, root_id)


@dataclass(frozen=True)
class HeldChunk:
    """A chunk a worker slot holds now."""

    id: int
    job_id: int
    tenant_id: int
    root_id: int
    job_type: str
    records: int
    # Of its records, those with an outcome written.
    done: int
    # None while QUEUED: taken, not started.
    started_at: datetime | None


@dataclass(frozen=True)
class RootWork:
    tenant_id: int
    root_id: int
    # Records done by the root's jobs so far (``executed`` in the claim).
    executed: int
    # Its jobs whose chunks may run: while it has one, it counts in its tenant's ``executed``.
    runnable_jobs: int


@dataclass(frozen=True)
class JobWork:
    """A runnable job with ready or held chunks."""

    id: int
    tenant_id: int
    root_id: int
    job_type: str
    status: JobStatus
    low_priority: bool
    # Its ready chunks, counted no further than the bound asked for, and their records.
    ready_chunks: int
    ready_records: int
    # It stays runnable when those chunks are done: not enumerated yet, or records wait for answers.
    lingers: bool


@dataclass(frozen=True)
class QueueState:
    held: list[HeldChunk]
    roots: list[RootWork]
    jobs: list[JobWork]


async def queue_state(max_chunks: int, max_jobs: int) -> QueueState:
    """What the claims are decided from, now: the chunks held, the roots with runnable jobs, and
    the runnable jobs with work (oldest first, at most ``max_jobs``, each counting at most
    ``max_chunks`` ready chunks). Four bounded statements; the claim reads the same rows."""
    held = await db.fetch(
        "SELECT c.id, c.job_id, c.started_at, c.range_end - c.range_start AS records, c.done,"
        " j.tenant_id, j.root_id, j.type FROM chunk c JOIN job j ON j.id = c.job_id"
        f" WHERE {_HELD} ORDER BY c.id LIMIT ?",
        [max_chunks],
    )
    roots = await db.fetch(
        "SELECT o.tenant_id, o.root_id, o.runnable_jobs,"
        " (SELECT SUM(j.done) FROM job j WHERE j.root_id = o.root_id) AS executed FROM ("
        f" SELECT j.tenant_id, j.root_id, COUNT(*) AS runnable_jobs FROM job j WHERE {_RUNNABLE_JOB}"
        " GROUP BY j.tenant_id, j.root_id"
        ") o ORDER BY o.root_id LIMIT ?",
        [max_jobs],
    )
    ready = f"SELECT {{column}} FROM chunk c WHERE c.job_id = j.id AND c.status = {_PENDING} ORDER BY c.\"index\" LIMIT ?"
    jobs = await db.fetch(
        "SELECT j.id, j.tenant_id, j.root_id, j.type, j.status, j.low_priority,"
        f" (SELECT COUNT(*) FROM ({ready.format(column='1 AS one')}) r) AS ready_chunks,"
        f" (SELECT SUM(r.n) FROM ({ready.format(column='c.range_end - c.cursor AS n')}) r) AS ready_records,"
        " (NOT j.enumerated OR EXISTS (SELECT 1 FROM chunk c WHERE c.job_id = j.id AND c.status = ?)) AS lingers"
        f" FROM job j WHERE {_RUNNABLE_JOB} AND ({_HAS_READY_CHUNK}"
        f" OR EXISTS (SELECT 1 FROM chunk c WHERE c.job_id = j.id AND {_HELD}))"
        " ORDER BY j.id LIMIT ?",
        [max_chunks, max_chunks, ChunkStatus.WAITING.value, max_jobs],
    )
    return QueueState(
        held=[
            HeldChunk(
                id=row["id"],
                job_id=row["job_id"],
                tenant_id=row["tenant_id"],
                root_id=row["root_id"],
                job_type=row["type"],
                records=int(row["records"]),
                done=int(row["done"]),
                started_at=None if row["started_at"] is None else as_utc(row["started_at"]),
            )
            for row in held
        ],
        roots=[
            RootWork(row["tenant_id"], row["root_id"], int(row["executed"] or 0), int(row["runnable_jobs"]))
            for row in roots
        ],
        jobs=[
            JobWork(
                id=row["id"],
                tenant_id=row["tenant_id"],
                root_id=row["root_id"],
                job_type=row["type"],
                status=JobStatus(row["status"]),
                low_priority=bool(row["low_priority"]),
                ready_chunks=int(row["ready_chunks"]),
                ready_records=int(row["ready_records"] or 0),
                lingers=bool(row["lingers"]),
            )
            for row in jobs
        ],
    )


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
