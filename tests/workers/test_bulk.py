"""Bulk operations run by real worker and dispatcher processes: handed out, run to the end,
continued by another worker after one is killed, and stopped midway by a cancel."""

from __future__ import annotations

import signal

import pytest
from redis.asyncio import Redis

from domain import bulk
from domain.access import PrincipalKind, Role
from domain.listing import JobListFilter
from domain.models import BulkOperation, BulkTarget, Job, JobEvent
from domain.statuses import BulkAction, BulkOperationStatus, BulkTargetStatus, EventKind, JobStatus
from domain.tenants import actor_of, create_token
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.workers.support import idle_pending_jobs

JOBS = 500


async def operator_of(tenant: TenantFixture):
    issued = await create_token(tenant.tenant.slug, Role.OPERATOR, name="Ada", kind=PrincipalKind.USER)
    return actor_of(issued.principal)


async def operation_now(operation: BulkOperation) -> BulkOperation:
    return await BulkOperation.get(id=operation.id)


async def wait_for_done(operation: BulkOperation, at_least: int, timeout: float = 60) -> BulkOperation:
    async def far_enough() -> BulkOperation | None:
        current = await operation_now(operation)
        return current if current.done >= at_least else None

    return await wait_until(far_enough, timeout=timeout, what=f"{at_least} jobs of the bulk operation done")


async def cancel_events(job_ids: list[int]) -> dict[int, int]:
    """Per job, how many times it was moved to CANCELED."""
    rows = await JobEvent.filter(
        job_id__in=job_ids, kind=EventKind.STATUS_CHANGED.value, to_status=JobStatus.CANCELED
    ).values_list("job_id", flat=True)
    counted: dict[int, int] = {}
    for job_id in rows:
        counted[job_id] = counted.get(job_id, 0) + 1
    return counted


@pytest.mark.parametrize("database", ["postgres", "sqlite"], indirect=True)
async def test_a_worker_killed_midway_is_replaced_and_no_job_is_acted_on_twice(
    cluster: Cluster, acme, redis: Redis
):
    operator = await operator_of(acme)
    job_ids = await idle_pending_jobs(acme, JOBS)
    everything = await bulk.start_bulk_operation(operator, BulkAction.CANCEL, where=JobListFilter())
    cluster.start_dispatcher()
    cluster.start_worker("doomed")

    midway = await wait_for_done(everything, 1)
    cluster.kill("doomed", signal.SIGKILL)
    assert midway.done < JOBS
    cluster.start_worker("survivor")

    async def completed() -> BulkOperation | None:
        current = await operation_now(everything)
        return current if current.status is BulkOperationStatus.COMPLETED else None

    done = await wait_until(completed, timeout=120, what="the bulk operation to complete")
    assert (done.total, done.done, done.succeeded, done.failed) == (JOBS, JOBS, JOBS, 0)
    assert set(await Job.filter(id__in=job_ids).values_list("status", flat=True)) == {JobStatus.CANCELED}
    assert set((await cancel_events(job_ids)).values()) == {1}


@pytest.mark.parametrize("database", ["postgres", "sqlite"], indirect=True)
async def test_a_cancel_midway_leaves_the_jobs_not_reached_untouched(cluster: Cluster, acme, redis: Redis):
    operator = await operator_of(acme)
    job_ids = await idle_pending_jobs(acme, JOBS)
    operation = await bulk.start_bulk_operation(operator, BulkAction.CANCEL, where=JobListFilter())
    cluster.start_dispatcher()
    cluster.start_worker()

    await wait_for_done(operation, 1)
    canceled = await bulk.cancel_bulk_operation(operator, operation.id)

    async def let_go() -> BulkOperation | None:
        current = await operation_now(operation)
        return current if current.lease_owner is None else None

    ended = await wait_until(let_go, timeout=30, what="the worker to let the operation go")
    assert canceled.status is ended.status is BulkOperationStatus.CANCELED
    assert 0 < ended.done < JOBS
    reached = await BulkTarget.filter(operation_id=operation.id).exclude(status=BulkTargetStatus.PENDING).values_list(
        "job_id", flat=True
    )
    assert len(reached) == ended.done == ended.succeeded
    statuses = dict(await Job.filter(id__in=job_ids).values_list("id", "status"))
    assert {job_id for job_id, status in statuses.items() if status is JobStatus.CANCELED} == set(reached)
    untouched = set(job_ids) - set(reached)
    assert {statuses[job_id] for job_id in untouched} == {JobStatus.PENDING}
    assert not await JobEvent.filter(job_id__in=list(untouched)).exists()
