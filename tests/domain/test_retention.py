"""Retention (``domain.retention``): jobs that ended long ago go with all their rows; nothing else does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import jobs
from domain.access import Role
from domain.clock import utcnow
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Chunk, Job, JobEvent, JobLog, Record
from domain.retention import prune_finished_jobs
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from tests.domain.scenarios import add_chunk, put_in, start

RETENTION = timedelta(days=30)
LONG_AGO = timedelta(days=45)
LATELY = timedelta(days=2)


async def job_with_history(actor, **request) -> Job:
    """A job with two chunks of records, an error log and its events."""
    return await with_history(await start(actor, **request))


async def with_history(job: Job) -> Job:
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED, RecordStatus.FAILED])
    await add_chunk(job, 1, ChunkStatus.COMPLETED, [RecordStatus.SKIPPED])
    await write_logs([LogLine(job.id, LogLevel.ERROR, "record r1 failed", record_key="r1")])
    return job


async def ended(job: Job, status: JobStatus = JobStatus.FINISHED, ago: timedelta = LONG_AGO) -> Job:
    return await put_in(job, status, ended_at=utcnow() - ago)


async def rows_of(job: Job) -> dict[str, int]:
    return {
        "job": await Job.filter(id=job.id).count(),
        "chunks": await Chunk.filter(job_id=job.id).count(),
        "records": await Record.filter(job_id=job.id).count(),
        "events": await JobEvent.filter(job_id=job.id).count(),
        "logs": await JobLog.filter(job_id=job.id).count(),
    }


NONE_LEFT = {"job": 0, "chunks": 0, "records": 0, "events": 0, "logs": 0}
KEPT = {"job": 1, "chunks": 2, "records": 3, "events": 1, "logs": 1}


@pytest.mark.parametrize("status", [JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED])
async def test_a_job_that_ended_before_the_cutoff_goes_with_all_its_rows(acme, status):
    job = await ended(await job_with_history(acme.actor()), status)
    assert await rows_of(job) == KEPT

    deleted = await prune_finished_jobs(RETENTION, batch=100, tenant_id=acme.tenant.id)

    assert deleted == 1
    assert await rows_of(job) == NONE_LEFT


@pytest.mark.parametrize(
    "status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.WAITING, JobStatus.STOPPING, JobStatus.STOPPED]
)
async def test_a_job_that_has_not_ended_is_kept_however_old(acme, status):
    job = await job_with_history(acme.actor())
    # Created and started long ago; STOPPED even has an end time, but may still be resumed.
    await Job.filter(id=job.id).update(created_at=utcnow() - LONG_AGO)
    ended_at = utcnow() - LONG_AGO if status is JobStatus.STOPPED else None
    await put_in(job, status, started_at=utcnow() - LONG_AGO, ended_at=ended_at)

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 0
    assert await rows_of(job) == KEPT


async def test_a_job_that_ended_within_the_retention_period_is_kept(acme):
    recent = await ended(await job_with_history(acme.actor()), ago=LATELY)
    just_inside = await ended(await job_with_history(acme.actor()), ago=RETENTION - timedelta(minutes=5))
    old = await ended(await job_with_history(acme.actor()))

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 1

    assert await rows_of(recent) == KEPT
    assert await rows_of(just_inside) == KEPT
    assert await rows_of(old) == NONE_LEFT


async def test_small_batches_prune_everything_that_is_due(acme):
    old = [await ended(await job_with_history(acme.actor())) for _ in range(5)]
    recent = await ended(await job_with_history(acme.actor()), ago=LATELY)

    # Batches of 2 rows: each job's three records and two chunks take several statements.
    assert await prune_finished_jobs(RETENTION, batch=2, tenant_id=acme.tenant.id) == 5

    for job in old:
        assert await rows_of(job) == NONE_LEFT
    assert await rows_of(recent) == KEPT
    assert await prune_finished_jobs(RETENTION, batch=2, tenant_id=acme.tenant.id) == 0


async def test_a_tree_goes_as_a_whole_children_with_their_parent(acme):
    actor = acme.actor()
    parent = await job_with_history(actor)
    child = await job_with_history(actor, parent_id=parent.id)
    grandchild = await job_with_history(actor, parent_id=child.id)
    for job in (grandchild, child, parent):
        await ended(job)

    assert await prune_finished_jobs(RETENTION, batch=1, tenant_id=acme.tenant.id) == 3

    for job in (parent, child, grandchild):
        assert await rows_of(job) == NONE_LEFT


@pytest.mark.parametrize("child_state", ["running", "ended lately"])
async def test_a_tree_with_a_child_still_running_or_recent_is_kept_whole(acme, child_state):
    actor = acme.actor()
    parent = await job_with_history(actor)
    child = await job_with_history(actor, parent_id=parent.id)
    await ended(parent)
    if child_state == "running":
        await put_in(child, JobStatus.RUNNING, started_at=utcnow() - LONG_AGO)
    else:
        await ended(child, ago=LATELY)

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 0

    assert await rows_of(parent) == KEPT
    assert await rows_of(child) == KEPT


async def test_a_restart_outlives_the_pruned_job_it_came_from(acme):
    actor = acme.actor()
    old = await ended(await job_with_history(actor))
    restart = await jobs.restart_job(actor, old.id)
    await ended(restart, ago=LATELY)

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 1

    assert await rows_of(old) == NONE_LEFT
    kept = await Job.get(id=restart.id)
    assert (kept.status, kept.restarted_from_id) == (JobStatus.FINISHED, None)


async def test_a_job_whose_retry_still_runs_is_kept(acme):
    actor = acme.actor()
    old = await ended(await job_with_history(actor))
    # The retry reads the failed records of the old job when it enumerates.
    retry = await jobs.retry_failed_records(actor, old.id)

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 0
    assert await rows_of(old) == KEPT

    await ended(retry, ago=LATELY)
    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 1
    assert await rows_of(old) == NONE_LEFT
    assert await Job.filter(id=retry.id, restarted_from_id=None).exists()


async def test_a_tree_whose_parent_has_a_running_retry_loses_no_child(acme):
    actor = acme.actor()
    parent = await job_with_history(actor)
    child = await job_with_history(actor, parent_id=parent.id)
    await ended(child)
    await ended(parent)
    await jobs.retry_failed_records(actor, parent.id)

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 0

    assert await rows_of(parent) == KEPT
    assert await rows_of(child) == KEPT


async def test_pruning_one_tenant_leaves_other_tenants_alone(acme, make_tenant):
    other = await make_tenant()
    mine = await ended(await job_with_history(acme.actor()))
    theirs = await ended(await job_with_history(other.actor()))

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 1

    assert await rows_of(mine) == NONE_LEFT
    assert await rows_of(theirs) == KEPT


async def test_without_a_tenant_every_tenant_is_pruned(acme, make_tenant):
    other = await make_tenant()
    mine = await ended(await job_with_history(acme.actor()))
    theirs = await ended(await job_with_history(other.actor(Role.ADMIN)))

    assert await prune_finished_jobs(RETENTION) >= 2

    assert await rows_of(mine) == NONE_LEFT
    assert await rows_of(theirs) == NONE_LEFT


async def test_a_batch_below_one_is_refused(acme):
    job = await ended(await job_with_history(acme.actor()))

    with pytest.raises(ValueError):
        await prune_finished_jobs(RETENTION, batch=0, tenant_id=acme.tenant.id)

    assert await rows_of(job) == KEPT
