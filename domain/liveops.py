"""The live-ops summary: what a live-ops screen shows, computed now.

The job figures describe the jobs of the default job list: those ``actor`` sees
(``visible_jobs``: its tenant, or all for the platform; system jobs for admins
only), hidden jobs excluded, since hiding is how an operator dismisses a job.
Queue depth is the work waiting for workers, so it counts every visible job's
chunks, hidden or not.

The caller counts the live workers (they are known to Redis, which the domain
does not read) and passes ``workers_online``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from domain import db
from domain.access import Actor
from domain.clock import utcnow
from domain.health import stalled_condition
from domain.jobs import visible_jobs
from domain.models import Chunk, Job
from domain.report_sql import scoped_jobs, seconds_between
from domain.statuses import DISPATCHABLE, ChunkStatus, JobStatus

T = TypeVar("T")

FAILED_WINDOW = timedelta(hours=24)
WAIT_WINDOW = timedelta(hours=1)
# The stalled and failed jobs a live-ops screen lists (to open them): a few, never all.
LISTED_JOBS = 10


@dataclass(frozen=True)
class StatusCount:
    status: JobStatus
    count: int


@dataclass(frozen=True)
class LiveOps:
    counts: tuple[StatusCount, ...]  # every JobStatus, in declaration order, zeros included
    stalled: int
    stalled_job_ids: tuple[int, ...]  # up to LISTED_JOBS, longest without progress first
    failed_last_24h: int
    failed_job_ids_last_24h: tuple[int, ...]  # up to LISTED_JOBS, latest end first
    avg_wait_seconds_last_hour: float | None  # None when no job started in the last hour
    workers_online: int
    queue_depth: int


@dataclass(frozen=True)
class TenantQueue:
    tenant: str  # its slug
    depth: int  # chunks ready to run


@dataclass(frozen=True)
class WaitHistogram:
    """Waiting times of the jobs started since some moment, Prometheus-style."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]  # jobs that waited at most each bound
    count: int
    total_seconds: float


class LiveOpsFigures:
    """The summary's figures for ``actor`` as of ``now``, each read when first asked for and
    kept: a screen that shows a few of them costs their statements only."""

    def __init__(self, actor: Actor, workers_online: int, now: datetime | None = None) -> None:
        self.actor = actor
        self.workers_online = workers_online
        self.now = now or utcnow()
        self._listed = _listed(actor)
        self._failed = _failed(self._listed, since=self.now - FAILED_WINDOW)
        self._read: dict[str, object] = {}

    async def _once(self, name: str, read: Callable[[], Awaitable[T]]) -> T:
        if name not in self._read:
            self._read[name] = await read()
        return self._read[name]  # type: ignore[return-value]

    async def counts(self) -> tuple[StatusCount, ...]:
        return await self._once("counts", lambda: _counts_by_status(self._listed))

    async def stalled(self) -> int:
        return await self._once("stalled", lambda: _stalled(self._listed, self.now, self.workers_online))

    async def stalled_job_ids(self) -> tuple[int, ...]:
        return await self._once("stalled_ids", lambda: _stalled_ids(self._listed, self.now, self.workers_online))

    async def failed_last_24h(self) -> int:
        return await self._once("failed", self._failed.count)

    async def failed_job_ids_last_24h(self) -> tuple[int, ...]:
        async def read() -> tuple[int, ...]:
            latest = self._failed.order_by("-ended_at", "-id").limit(LISTED_JOBS)
            return tuple(await latest.values_list("id", flat=True))

        return await self._once("failed_ids", read)

    async def avg_wait_seconds_last_hour(self) -> float | None:
        waits = await self._once("waits", lambda: wait_histogram(self.actor, since=self.now - WAIT_WINDOW))
        return round(waits.total_seconds / waits.count, 3) if waits.count else None

    async def queue_depth(self) -> int:
        return await self._once("queue_depth", lambda: queue_depth(self.actor))

    async def summary(self) -> LiveOps:
        """Every figure; ``stalled`` counts the jobs ``domain.health.is_stalled`` flags."""
        return LiveOps(
            counts=await self.counts(),
            stalled=await self.stalled(),
            stalled_job_ids=await self.stalled_job_ids(),
            failed_last_24h=await self.failed_last_24h(),
            failed_job_ids_last_24h=await self.failed_job_ids_last_24h(),
            avg_wait_seconds_last_hour=await self.avg_wait_seconds_last_hour(),
            workers_online=self.workers_online,
            queue_depth=await self.queue_depth(),
        )


# PostgreSQL: the changes a fold deletes are the ones it adds, so two folds at once (two API
# processes scraped together) never add a change twice: the second skips what the first took.
FOLD_POSTGRES = (
    "WITH taken AS (DELETE FROM job_count_change RETURNING status, delta)"
    " UPDATE job_count SET jobs = job_count.jobs + folded.delta"
    " FROM (SELECT status, SUM(delta) AS delta FROM taken GROUP BY status) AS folded"
    " WHERE job_count.status = folded.status"
)
# SQLite: one writer at a time, and the transaction holds the write lock from its first statement.
FOLD_SQLITE = (
    "UPDATE job_count SET jobs = jobs + COALESCE("
    "(SELECT SUM(delta) FROM job_count_change AS change WHERE change.status = job_count.status), 0)",
    "DELETE FROM job_count_change",
)


async def fold_job_counts() -> None:
    """Adds the changes recorded since the last fold to ``domain.models.JobCount`` and drops them."""
    async with db.transaction() as connection:
        if connection.capabilities.dialect == "postgres":
            await connection.execute_query(FOLD_POSTGRES)
        else:
            for statement in FOLD_SQLITE:
                await connection.execute_query(statement)


async def platform_job_counts() -> tuple[StatusCount, ...]:
    """The jobs in each status over every tenant, hidden jobs left out, as the database keeps
    them (``domain.models.JobCount``), folded first: a read costs what changed since the last
    fold, not what the job table holds."""
    await fold_job_counts()
    rows = await db.fetch("SELECT status, jobs FROM job_count", [])
    found = {JobStatus(row["status"]): int(row["jobs"]) for row in rows}
    return tuple(StatusCount(status, found.get(status, 0)) for status in JobStatus)


async def stalled_jobs(actor: Actor, workers_online: int, now: datetime) -> int:
    """How many jobs ``domain.health.is_stalled`` flags: RUNNING ones, read through the status index."""
    return await _stalled(_listed(actor), now, workers_online)


async def failed_jobs(actor: Actor, since: datetime) -> int:
    """The listed jobs that failed since ``since``: a window of the ``(status, ended_at)`` index."""
    return await _failed(_listed(actor), since).count()


async def queue_depth(actor: Actor) -> int:
    """Chunks ready to run: the PENDING chunks of the jobs whose chunks may start
    (``domain.scheduling``'s ready chunks)."""
    return await _ready_chunks(actor).count()


async def deepest_queues(actor: Actor, top: int) -> tuple[TenantQueue, ...]:
    """The ``top`` tenants with the most chunks ready to run (``queue_depth`` by tenant),
    deepest first: a bounded list however many tenants there are."""
    rows = await db.fetch(
        f"SELECT t.slug AS slug, COUNT(*) AS n FROM chunk c JOIN {scoped_jobs(_runnable(actor))} ON j.id = c.job_id"
        " JOIN tenant t ON t.id = j.tenant_id WHERE c.status = ?"
        " GROUP BY t.slug ORDER BY n DESC, t.slug LIMIT ?",
        [ChunkStatus.PENDING.value, top],
    )
    return tuple(TenantQueue(tenant=row["slug"], depth=int(row["n"])) for row in rows)


async def oldest_ready_at(actor: Actor) -> datetime | None:
    """When the chunk that has been ready to run the longest became ready; None when none waits."""
    return await _ready_chunks(actor).exclude(ready_at=None).order_by("ready_at").first().values_list(
        "ready_at", flat=True
    )


def _runnable(actor: Actor) -> QuerySet[Job]:
    return visible_jobs(actor).filter(Q(status__in=DISPATCHABLE) | Q(status=JobStatus.STOPPING, stoppable=False))


def _ready_chunks(actor: Actor) -> QuerySet[Chunk]:
    return Chunk.filter(status=ChunkStatus.PENDING, job_id__in=Subquery(_runnable(actor).values("id")))


async def wait_histogram(
    actor: Actor, since: datetime, bounds: Sequence[float] = ()
) -> WaitHistogram:
    """``started_at - created_at`` of the listed jobs (see the module doc) started since ``since``."""
    listed = _listed(actor)
    wait = seconds_between("j.started_at", "j.created_at")
    under = "".join(
        f", SUM(CASE WHEN wait <= {float(bound)!r} THEN 1 ELSE 0 END) AS le_{n}"
        for n, bound in enumerate(bounds)
    )
    rows = await db.fetch(
        f"SELECT COUNT(*) AS n, SUM(wait) AS total{under}"
        f" FROM (SELECT {wait} AS wait FROM {scoped_jobs(listed)} WHERE j.started_at >= ?) w",
        [since],
    )
    row = rows[0]
    return WaitHistogram(
        bounds=tuple(float(bound) for bound in bounds),
        cumulative=tuple(int(row[f"le_{n}"] or 0) for n in range(len(bounds))),
        count=int(row["n"]),
        total_seconds=float(row["total"] or 0.0),
    )


async def records_processed() -> int:
    """Records processed by every tenant since the start, as counted against plan limits.

    Plan usage only grows (retention prunes jobs, not usage), so this is a counter.
    """
    rows = await db.fetch("SELECT SUM(records_used) AS total FROM plan_usage", [])
    return int(rows[0]["total"] or 0)


def _listed(actor: Actor) -> QuerySet[Job]:
    """The jobs of the default job list."""
    return visible_jobs(actor).filter(hidden=False)


def _failed(listed: QuerySet[Job], since: datetime) -> QuerySet[Job]:
    return listed.filter(status=JobStatus.FAILED, ended_at__gte=since)


async def _counts_by_status(listed: QuerySet[Job]) -> tuple[StatusCount, ...]:
    rows = await listed.annotate(n=Count("id")).group_by("status").values_list("status", "n")
    found = {JobStatus(status): int(n) for status, n in rows}
    return tuple(StatusCount(status, found.get(status, 0)) for status in JobStatus)


async def _stalled(listed: QuerySet[Job], now: datetime, workers_online: int) -> int:
    condition, params = stalled_condition(now, workers_online)
    rows = await db.fetch(
        f"SELECT COUNT(*) AS n FROM {scoped_jobs(listed)} WHERE {condition}", params
    )
    return int(rows[0]["n"])


async def _stalled_ids(listed: QuerySet[Job], now: datetime, workers_online: int) -> tuple[int, ...]:
    condition, params = stalled_condition(now, workers_online)
    rows = await db.fetch(
        f"SELECT j.id AS id FROM {scoped_jobs(listed)} WHERE {condition}"
        " ORDER BY COALESCE(j.last_progress_at, j.started_at), j.id"
        f" LIMIT {LISTED_JOBS}",
        params,
    )
    return tuple(int(row["id"]) for row in rows)
