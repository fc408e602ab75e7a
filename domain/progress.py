"""Server-computed figures of a job: progress, waiting and running time, why it is not running.

Progress is read from the counters on the job and chunk rows (``domain.counts``),
which the workers raise as they write records: a pull refresh and a live event
show the same figures, and they never go down while a job runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain import db
from domain.counts import COUNTERS, Counts
from domain.models import Chunk, Job
from domain.registry import registry
from domain.statuses import JobStatus, TERMINAL


@dataclass(frozen=True)
class Progress:
    total: int | None
    counts: Counts
    # The total is a guess: records are still being enumerated, or children may still appear.
    estimated: bool

    @property
    def done(self) -> int:
        return self.counts.done

    @property
    def percent(self) -> float | None:
        if not self.total:
            return 100.0 if self.total == 0 and not self.estimated else None
        return round(min(100.0, 100.0 * self.done / self.total), 2)


def job_progress(job: Job) -> Progress:
    counts = Counts.of_row(job)
    total = job.total
    estimated = False
    if total is None:
        estimated = True
        if job.type in registry:
            total = registry.get(job.type).records_requested(job.params)
    return Progress(total=total if total is None else max(total, counts.done), counts=counts, estimated=estimated)


def chunk_progress(chunk: Chunk) -> Progress:
    return Progress(total=chunk.range_end - chunk.range_start, counts=Counts.of_row(chunk), estimated=False)



async def children_progress(parents: Sequence[Job], include_system: bool) -> dict[int, Progress]:
    """Each parent's descendants (its children, theirs, and so on) summed, in one query per page.

    Estimated while descendants may still appear (the parent is not over) or one of them has
    not counted its records yet. Without ``include_system`` a system job and what is below it
    are left out. The walk down stays inside each parent's tree: a descendant shares its
    parent's ``root_id``, which the ``(root_id, status)`` index narrows to.
    """
    if not parents:
        return {}
    marks = ", ".join("?" for _ in parents)
    roots = {parent.root_id or parent.id for parent in parents}
    visible, visible_params = ("", []) if include_system else (" AND job.system = ?", [False])
    columns = ", ".join(f"job.{name}" for name in ("total", *COUNTERS))
    sums = ", ".join(f"SUM({name}) AS {name}" for name in ("total", *COUNTERS))
    rows = await db.fetch(
        "WITH RECURSIVE subtree AS ("
        f" SELECT job.parent_id AS ancestor_id, job.root_id, job.id, {columns} FROM job"
        f" WHERE job.root_id IN ({', '.join('?' for _ in roots)}) AND job.parent_id IN ({marks}){visible}"
        " UNION ALL"
        f" SELECT subtree.ancestor_id, job.root_id, job.id, {columns} FROM job"
        f" JOIN subtree ON job.root_id = subtree.root_id AND job.parent_id = subtree.id{visible}"
        f") SELECT ancestor_id, COUNT(*) AS descendants, COUNT(total) AS counted, {sums}"
        " FROM subtree GROUP BY ancestor_id",
        [*roots, *(parent.id for parent in parents), *visible_params, *visible_params],
    )
    found = {row["ancestor_id"]: row for row in rows}
    result = {}
    for parent in parents:
        row = found.get(parent.id)
        over = parent.status in TERMINAL
        if row is None:
            result[parent.id] = Progress(0, Counts(), estimated=not over)
            continue
        result[parent.id] = Progress(
            total=int(row["total"] or 0),
            counts=Counts(**{name: int(row[name] or 0) for name in COUNTERS}),
            estimated=not over or row["counted"] < row["descendants"],
        )
    return result


def waiting_seconds(job: Job, now: datetime) -> float:
    """``startedAt − createdAt``; grows while the job has not started."""
    return ((job.started_at or now) - job.created_at).total_seconds()


def duration_seconds(job: Job, now: datetime) -> float | None:
    """``endedAt − startedAt``; grows while the job runs; None before it started."""
    if job.started_at is None:
        return None
    return ((job.ended_at or now) - job.started_at).total_seconds()


class WaitingReason(StrEnum):
    QUEUED = "QUEUED"
    LOW_PRIORITY = "LOW_PRIORITY"
    FAIR_SHARE = "FAIR_SHARE"
    EXTERNAL_STEP = "EXTERNAL_STEP"
    NO_WORKERS = "NO_WORKERS"
    STOPPED = "STOPPED"


def waiting_reason(job: Job, *, workers_online: int, busy_roots: int) -> WaitingReason | None:
    """Why a job that is not running now waits; None when it runs or is over.

    ``busy_roots``: how many other root jobs have work in flight right now.
    """
    if job.status is JobStatus.STOPPED:
        return WaitingReason.STOPPED
    if job.status is JobStatus.WAITING:
        return WaitingReason.EXTERNAL_STEP
    if job.status is not JobStatus.PENDING:
        return None
    if workers_online == 0:
        return WaitingReason.NO_WORKERS
    if job.low_priority and busy_roots:
        return WaitingReason.LOW_PRIORITY
    if busy_roots:
        return WaitingReason.FAIR_SHARE
    return WaitingReason.QUEUED
