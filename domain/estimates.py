"""When waiting jobs will start: their place in line and an estimated start, as the slots will take them.

The forecast replays the claims the worker slots are going to make
(``domain.scheduling``). The chunks held now end first, each when the chunks of
its job type took lately; every slot that frees takes the fairest ready chunk at
that moment, by the claim's own order (``fair_order``) and with the figures the
claim reads moved on: the root and the tenant that took a chunk have one more in
flight, one whose chunk ended has one less and its records done, and a job done
with its work no longer counts for its tenant. A PENDING job's queue position is
its place among the PENDING jobs by the moment the slots take its first chunk;
its estimated start is that moment.

How long a chunk takes is the median time per record of its type's chunks that
completed in the last ``RECENT``, times its records (every type's median for a
type that has none). With no such chunk, or no worker online, the order is still
known but the moments are not: positions without estimates.

What it cannot foresee: chunks that are not ready yet (records still being
enumerated, records that wait for answers, work a stop or a lost worker hands
back), jobs started meanwhile, and a chunk that takes longer than its type's
recent ones. It looks at the ``MAX_JOBS`` oldest runnable jobs with work and
``MAX_CLAIMS`` claims ahead; a job further back has no place (null).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Generic, TypeVar

from domain import db
from domain.report_sql import seconds_between
from domain.scheduling import HeldChunk, JobWork, QueueState, fair_order, queue_state
from domain.statuses import ChunkStatus, JobStatus

RECENT = timedelta(minutes=15)
# The most recently completed chunks the durations are taken from.
DURATION_SAMPLE = 1000
# What one request may replay: the jobs it reads, and the claims it makes (each some tens of
# microseconds of Python).
MAX_JOBS = 1000
MAX_CLAIMS = 2000

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class QueuePlace:
    # 1: the next PENDING job to start.
    position: int
    # None when the durations that decide it are not known.
    estimated_start_at: datetime | None


@dataclass(frozen=True)
class Durations:
    """Seconds per record that chunks took lately, per job type, and over every type."""

    per_record: dict[str, float]
    overall: float | None

    def of_chunk(self, job_type: str, records: float) -> float | None:
        rate = self.per_record.get(job_type, self.overall)
        return None if rate is None else rate * records


@dataclass(frozen=True)
class Forecast:
    places: dict[int, QueuePlace]
    # The jobs whose chunks the slots take, one per claim, in order.
    claims: list[int]


async def queue_places(job_ids: Iterable[int], worker_slots: int, now: datetime) -> dict[int, QueuePlace]:
    """The places of those of ``job_ids`` that are PENDING with a place in line."""
    wanted = set(job_ids)
    state = await queue_state(max_chunks=MAX_CLAIMS, max_jobs=MAX_JOBS)
    if not wanted & {job.id for job in state.jobs}:
        return {}
    forecast = replay_claims(state, await recent_durations(now), worker_slots, now, wanted)
    return {job_id: place for job_id, place in forecast.places.items() if job_id in wanted}


async def recent_durations(now: datetime) -> Durations:
    rows = await db.fetch(
        f"SELECT j.type, {seconds_between('c.ended_at', 'c.started_at')} AS seconds,"
        " c.range_end - c.range_start AS records FROM chunk c JOIN job j ON j.id = c.job_id"
        " WHERE c.status = ? AND c.ended_at >= ? AND c.started_at IS NOT NULL"
        " ORDER BY c.ended_at DESC LIMIT ?",
        [ChunkStatus.COMPLETED.value, now - RECENT, DURATION_SAMPLE],
    )
    rates: dict[str, list[float]] = {}
    for row in rows:
        if row["records"] and row["seconds"] is not None and row["seconds"] >= 0:
            rates.setdefault(row["type"], []).append(float(row["seconds"]) / int(row["records"]))
    every = [rate for per_type in rates.values() for rate in per_type]
    return Durations(
        per_record={job_type: median(per_type) for job_type, per_type in rates.items()},
        overall=median(every) if every else None,
    )


def replay_claims(
    state: QueueState, durations: Durations, worker_slots: int, now: datetime, wanted: set[int] | None = None
) -> Forecast:
    """The claims the slots will make from ``state``, until every job of ``wanted`` (every
    PENDING job, without it) has its place, no work is left or ``MAX_CLAIMS`` are made."""
    return _Replay(state, durations, worker_slots, now, wanted).run()


class _Ranking(Generic[K]):
    """The item with the lowest key, among items whose keys change: an item set again
    supersedes its older entries, which are dropped when they come up."""

    def __init__(self) -> None:
        self._heap: list[tuple[tuple[float, ...], K]] = []
        self._keys: dict[K, tuple[float, ...]] = {}

    def set(self, item: K, key: tuple[float, ...]) -> None:
        if self._keys.get(item) != key:
            self._keys[item] = key
            heapq.heappush(self._heap, (key, item))

    def discard(self, item: K) -> None:
        self._keys.pop(item, None)

    def lowest(self) -> tuple[K, tuple[float, ...]] | None:
        while self._heap:
            key, item = self._heap[0]
            if self._keys.get(item) == key:
                return item, key
            heapq.heappop(self._heap)
        return None


@dataclass
class _Job:
    work: JobWork
    ready: int
    records_per_chunk: float
    running: int = 0


@dataclass
class _Root:
    id: int
    tenant_id: int
    executed: float
    runnable_jobs: int
    in_flight: int = 0
    # Its jobs with ready chunks, oldest first: normal priority, and low.
    ready: dict[bool, deque[_Job]] = field(default_factory=lambda: {False: deque(), True: deque()})


@dataclass
class _Tenant:
    in_flight: int = 0
    # Records done by its roots that have a runnable job.
    executed: float = 0


@dataclass(order=True)
class _Running:
    ends_at: datetime
    order: int
    root_id: int = field(compare=False)
    records: float = field(compare=False)
    job: _Job | None = field(compare=False)
    # Whether its end is measured, not a stand-in that only keeps the order.
    measured: bool = field(compare=False)


# How long a chunk of a type with no measured duration is taken to run: it orders the ends,
# and no moment after it is estimated.
_STAND_IN = timedelta(seconds=1)


class _Replay:
    def __init__(
        self, state: QueueState, durations: Durations, worker_slots: int, now: datetime, wanted: set[int] | None
    ) -> None:
        self.durations = durations
        self.now = now
        # With no worker online the order is the one a single slot would follow.
        self.slots = max(worker_slots, 1)
        self.timed = worker_slots > 0
        self.tenants: dict[int, _Tenant] = {}
        self.roots: dict[int, _Root] = {}
        for root in state.roots:
            self.roots[root.root_id] = _Root(root.root_id, root.tenant_id, root.executed, root.runnable_jobs)
            self._tenant(root.tenant_id).executed += root.executed
        self.jobs: dict[int, _Job] = {}
        for work in state.jobs:
            job = _Job(work, work.ready_chunks, work.ready_records / work.ready_chunks if work.ready_chunks else 0)
            self.jobs[work.id] = job
            if job.ready:
                self._root(work.root_id, work.tenant_id, runnable_jobs=1).ready[work.low_priority].append(job)
        self.pending = {job.work.id for job in self.jobs.values() if job.work.status is JobStatus.PENDING}
        self.unplaced = set(self.pending) if wanted is None else self.pending & wanted
        self.places: dict[int, QueuePlace] = {}
        self.claims: list[int] = []
        # Per priority class, each tenant's roots with ready work, and the tenants by their best root.
        self.root_ranks: dict[bool, dict[int, _Ranking[int]]] = {False: {}, True: {}}
        self.tenant_ranks: dict[bool, _Ranking[int]] = {False: _Ranking(), True: _Ranking()}
        self.running: list[_Running] = []
        self._order = itertools.count()
        for chunk in sorted(state.held, key=lambda held: (held.started_at is not None, held.started_at, held.id)):
            self._hold(chunk)
        for root in self.roots.values():
            self._rank(root)

    def run(self) -> Forecast:
        moment, measured = self.now, self.timed
        while self.unplaced and len(self.claims) < MAX_CLAIMS:
            while len(self.running) < self.slots and self.unplaced and self._claim(moment, measured):
                pass
            if not self.unplaced or not self.running or not self._has_ready():
                break
            ended = heapq.heappop(self.running)
            moment, measured = ended.ends_at, measured and ended.measured
            self._end(ended)
        return Forecast(self.places, self.claims)

    # ------------------------------------------------------------ the figures the claim reads

    def _tenant(self, tenant_id: int) -> _Tenant:
        return self.tenants.setdefault(tenant_id, _Tenant())

    def _root(self, root_id: int, tenant_id: int, runnable_jobs: int) -> _Root:
        """The root; one the state did not list (no runnable job, or past its bound) has done nothing."""
        root = self.roots.get(root_id)
        if root is None:
            root = self.roots[root_id] = _Root(root_id, tenant_id, 0, runnable_jobs)
            self._tenant(tenant_id)
        return root

    def _rank(self, root: _Root) -> None:
        """Rank ``root`` and its tenant again, in each priority class, after their figures changed."""
        tenant = self._tenant(root.tenant_id)
        for low in (False, True):
            ranks = self.root_ranks[low].setdefault(root.tenant_id, _Ranking())
            if root.ready[low]:
                # The root's part of fair_order: within a tenant, it alone decides.
                ranks.set(root.id, (root.in_flight, root.executed, root.id))
            else:
                ranks.discard(root.id)
            best = ranks.lowest()
            if best is None:
                self.tenant_ranks[low].discard(root.tenant_id)
            else:
                in_flight, executed, root_id = best[1]
                self.tenant_ranks[low].set(
                    root.tenant_id, fair_order(tenant.in_flight, tenant.executed, int(in_flight), executed, int(root_id))
                )

    def _has_ready(self) -> bool:
        return any(ranking.lowest() is not None for ranking in self.tenant_ranks.values())

    # ------------------------------------------------------------ claims and ends

    def _claim(self, moment: datetime, measured: bool) -> bool:
        """The next free slot takes the fairest ready chunk at ``moment``; False when none is ready."""
        for low in (False, True):  # normal work first
            best = self.tenant_ranks[low].lowest()
            if best is not None:
                break
        else:
            return False
        tenant_id = best[0]
        root_found = self.root_ranks[low][tenant_id].lowest()
        assert root_found is not None
        root = self.roots[root_found[0]]
        job = root.ready[low][0]
        job.ready -= 1
        if not job.ready:
            root.ready[low].popleft()
        job.running += 1
        self.claims.append(job.work.id)
        self._place(job.work.id, moment if measured else None)
        records = job.records_per_chunk
        self._start(root, job, self.durations.of_chunk(job.work.job_type, records), records, moment, measured)
        return True

    def _hold(self, chunk: HeldChunk) -> None:
        """A chunk a slot holds now: it ends when its type's chunks took since it started, not before now."""
        job = self.jobs.get(chunk.job_id)
        if job is not None:
            job.running += 1
        self._place(chunk.job_id, self.now if self.timed else None)
        seconds = self.durations.of_chunk(chunk.job_type, chunk.records)
        if seconds is not None and chunk.started_at is not None:
            seconds = max(0.0, seconds - (self.now - chunk.started_at).total_seconds())
        root = self._root(chunk.root_id, chunk.tenant_id, runnable_jobs=0)
        self._start(root, job, seconds, chunk.records - chunk.done, self.now, measured=True)

    def _start(
        self, root: _Root, job: _Job | None, seconds: float | None, records: float, moment: datetime, measured: bool
    ) -> None:
        """A chunk of ``records`` still to run starts at ``moment``, for ``seconds`` if they are known."""
        root.in_flight += 1
        self._tenant(root.tenant_id).in_flight += 1
        self._rank(root)
        took = _STAND_IN if seconds is None else timedelta(seconds=seconds)
        running = _Running(
            moment + took, next(self._order), root.id, records, job,
            measured=measured and self.timed and seconds is not None,
        )
        heapq.heappush(self.running, running)

    def _end(self, ended: _Running) -> None:
        root = self.roots[ended.root_id]
        tenant = self._tenant(root.tenant_id)
        root.in_flight -= 1
        tenant.in_flight -= 1
        counted = root.runnable_jobs > 0
        root.executed += ended.records
        if counted:
            tenant.executed += ended.records
        job = ended.job
        if job is not None:
            job.running -= 1
            if not (job.ready or job.running or job.work.lingers):
                # The job is done: once its root has no runnable job, the root no longer counts.
                root.runnable_jobs -= 1
                if counted and root.runnable_jobs <= 0:
                    tenant.executed -= root.executed
        self._rank(root)

    def _place(self, job_id: int, moment: datetime | None) -> None:
        """A PENDING job's first chunk is taken at ``moment``: the job has its place."""
        if job_id in self.pending and job_id not in self.places:
            self.unplaced.discard(job_id)
            self.places[job_id] = QueuePlace(position=len(self.places) + 1, estimated_start_at=moment)
