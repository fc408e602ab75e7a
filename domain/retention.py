"""Retention: jobs that ended long ago are deleted with everything they own.

A job tree (a root job and its children) goes as a whole, and only once every
job in it has ended (FINISHED, FAILED or CANCELED) before the cutoff: a STOPPED
job may still be resumed, and a parent must not lose children that still run
or that the console still shows as recent. Rows go children before parents and
records before their chunks, each batch in its own short statement, so pruning
a big job never holds one huge transaction. A big job's records and log lines are
not deleted row by row: its partition goes once the job is gone, in constant time
(``domain.partitions``); a small job's few are deleted here, and its week's partition
goes once the week's jobs are all gone. Records and log lines have no foreign keys on
PostgreSQL, so nothing cascades to them: they go here or not at all. The database
would cascade a deleted job to its restarts; those keep living and only lose their
``restartedFrom`` link, which is cut first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from domain import db
from domain.clock import utcnow
from domain.models import Chunk, Job, JobEvent, JobLog, Record
from domain.partitions import drop_unused_partitions, placement_of, prepare_partitions
from domain.rollup import forget
from domain.statuses import TERMINAL

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500
# What a job owns in its partition, and beside it, in an order SQLite's foreign keys allow
# (records point at chunks there), each with the column its rows are deleted in the order of:
# one the job's rows are indexed by, so each batch starts where the last one ended.
_IN_PARTITION: tuple[tuple[type[Model], str], ...] = ((Record, "position"), (JobLog, "id"))
_BESIDE: tuple[tuple[type[Model], str], ...] = ((JobEvent, "seq"), (Chunk, "index"))


async def prune_finished_jobs(
    older_than: timedelta, batch: int = DEFAULT_BATCH, *, tenant_id: int | None = None
) -> int:
    """Delete the job trees that ended more than ``older_than`` ago; the number of jobs deleted.

    ``batch`` bounds the root jobs looked at and the rows deleted per statement.
    ``tenant_id`` confines the pruning to one tenant; None prunes every tenant. The
    partitions no job is kept in any more go too, whichever tenant's jobs they held, and
    the partitions for the coming week's jobs are made.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    now = utcnow()
    cutoff = now - older_than
    deleted = 0
    after = 0
    while roots := await _ended_roots(cutoff, tenant_id, after, batch):
        after = roots[-1]
        for root in await _prunable(roots, cutoff):
            deleted += await _delete_tree(root, batch)
    await drop_unused_partitions(now, batch)
    await prepare_partitions(now)
    return deleted


async def _ended_roots(cutoff: datetime, tenant_id: int | None, after: int, batch: int) -> list[int]:
    roots = Job.filter(parent_id=None, status__in=TERMINAL, ended_at__lt=cutoff, id__gt=after)
    if tenant_id is not None:
        roots = roots.filter(tenant_id=tenant_id)
    return await roots.order_by("id").limit(batch).values_list("id", flat=True)


async def _prunable(roots: list[int], cutoff: datetime) -> list[int]:
    """The roots whose whole tree ended before the cutoff and that no running restart still needs."""
    recent_or_open = await Job.filter(root_id__in=roots).filter(
        Q(status__not_in=TERMINAL) | Q(ended_at=None) | Q(ended_at__gte=cutoff)
    ).values_list("root_id", flat=True)
    # A retry job reads the failed records of the job it restarts until it has enumerated.
    needed = await Job.filter(status__not_in=TERMINAL, restarted_from_id__not_isnull=True).values_list(
        "restarted_from_id", flat=True
    )
    needed_roots = await Job.filter(id__in=needed, root_id__in=roots).values_list("root_id", flat=True)
    blocked = set(recent_or_open) | set(needed_roots)
    return [root for root in roots if root not in blocked]


async def _delete_tree(root: int, batch: int) -> int:
    # Ids grow: a child is always created after its parent, so newest first deletes children first.
    members = await Job.filter(root_id=root).order_by("-id").values_list("id", flat=True)
    deleted = 0
    for job_id in members:
        if not await _delete_job(job_id, batch):
            log.info("job %s changed while it was pruned; kept", job_id)
            break
        deleted += 1
    return deleted


async def _delete_job(job_id: int, batch: int) -> bool:
    placement = await placement_of(job_id)
    if placement is None or not await _still_prunable(job_id):
        return False
    # Its own partition goes whole once the job is gone (drop_unused_partitions).
    in_partition = () if placement.own else _IN_PARTITION
    for model, column in in_partition:
        await _delete_in_batches(model.filter(job_id=job_id, partition_id=placement.partition_id), column, batch)
    for model, column in _BESIDE:
        await _delete_in_batches(model.filter(job_id=job_id), column, batch)
    async with db.transaction():
        # Locked, a restart of this job cannot be admitted until the row is gone (PostgreSQL;
        # SQLite's write lock serializes anyway).
        moments = await Job.filter(id=job_id).select_for_update().values_list("created_at", "started_at", "ended_at")
        if not moments or not await _still_prunable(job_id):
            return False
        await Job.filter(restarted_from_id=job_id).update(restarted_from_id=None)
        # Rows a worker saved after the first pass, before its chunk went: no foreign
        # key cascades them, and with the chunks gone no worker can save more.
        for model, _ in in_partition:
            await model.filter(job_id=job_id, partition_id=placement.partition_id).delete()
        await Job.filter(id=job_id).delete()
        # A pruned job no longer counts in the statistics of its moments.
        await forget(*moments[0])
    return True


async def _still_prunable(job_id: int) -> bool:
    """Ended, with no other job of its tree below it and no restart that still runs."""
    if not await Job.filter(id=job_id, status__in=TERMINAL).exists():
        return False
    if await Job.filter(Q(parent_id=job_id) | Q(root_id=job_id)).exclude(id=job_id).exists():
        return False
    return not await Job.filter(restarted_from_id=job_id, status__not_in=TERMINAL).exists()


async def _delete_in_batches(rows: QuerySet, column: str, batch: int) -> None:
    """Delete ``rows`` ``batch`` at a time, as ranges of ``column``: each batch's end is read
    past the last one's, so no batch passes over the rows deleted before it (read from the
    start, a job's 100,000 chunks took seconds), and the range is two values, not ``batch``."""
    remaining = rows
    while ends := await remaining.order_by(column).offset(batch - 1).limit(1).values_list(column, flat=True):
        await remaining.filter(**{f"{column}__lte": ends[0]}).delete()
        remaining = rows.filter(**{f"{column}__gt": ends[0]})
    await remaining.delete()
