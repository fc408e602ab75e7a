"""Child jobs on real workers: linked to their parent and root, waited for, stopped and canceled with it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import jobtower.demo  # noqa: F401  (data_import fails its runs in this process too)
from domain.access import Role
from domain.clock import utcnow
from domain.jobs import cancel_job, resume_job, stop_job
from domain.models import Chunk, Job, Record
from domain.statuses import TERMINAL, ChunkStatus, JobOutcome, JobStatus, RecordStatus
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.workers.support import discard_open_jobs, reload, start, start_child, wait_for_status

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


@pytest.fixture(autouse=True)
async def only_this_tests_work(cluster: Cluster) -> AsyncIterator[None]:
    await discard_open_jobs()
    yield
    await discard_open_jobs()


def start_workers(cluster: Cluster) -> None:
    cluster.start_worker(worker_concurrency=4)
    cluster.start_dispatcher()


async def children_of(parent: Job) -> list[Job]:
    return await Job.filter(parent_id=parent.id).order_by("id")


async def record_counts(jobs: list[Job]) -> dict[int, int]:
    return {job.id: await Record.filter(job_id=job.id).count() for job in jobs}


async def children_running(parent: Job, expected: int) -> list[Job]:
    """Once all ``expected`` children exist and some have records done."""

    async def ready() -> list[Job] | None:
        children = await children_of(parent)
        if len(children) < expected:
            return None
        counts = await record_counts(children)
        return children if sum(1 for n in counts.values() if n) >= 2 else None

    return await wait_until(ready, timeout=30, what=f"children of job {parent.id} to run")


async def a_later_job_finishes(tenant: TenantFixture) -> None:
    """Proof that the workers kept taking work meanwhile: whatever could still run, would have."""
    later = await start(tenant, "test.plain", records=3, chunk_size=1)
    await wait_for_status(later, JobStatus.FINISHED, timeout=30)


async def test_the_parent_finishes_after_its_linked_children(cluster: Cluster, acme: TenantFixture):
    start_workers(cluster)
    parent = await start(acme, "test.parent", records=3, children=2, childRecords=3, childStepMs=100)
    waited_for_children = False

    async def parent_ended() -> Job | None:
        nonlocal waited_for_children
        current = await reload(parent)
        own_work_done = not await Chunk.filter(job_id=parent.id).exclude(status=ChunkStatus.COMPLETED).exists()
        children_open = await Job.filter(parent_id=parent.id).exclude(status__in=TERMINAL).exists()
        if current.status is JobStatus.RUNNING and current.enumerated and own_work_done and children_open:
            waited_for_children = True
        return current if current.status in TERMINAL else None

    parent = await wait_until(parent_ended, timeout=60, what="the parent to end")

    assert parent.status is JobStatus.FINISHED and parent.outcome is JobOutcome.SUCCEEDED
    assert parent.root_id == parent.id and parent.parent_id is None
    children = await children_of(parent)
    assert sorted(child.name for child in children) == sorted(
        f"child {key}.{number}" for key in range(3) for number in range(2)
    )
    for child in children:
        assert (child.parent_id, child.root_id, child.tenant_id) == (parent.id, parent.id, parent.tenant_id)
        assert (child.type, child.status, child.outcome) == ("test.plain", JobStatus.FINISHED, JobOutcome.SUCCEEDED)
        assert (child.done, child.total) == (3, 3)
    assert waited_for_children, "the parent should have stayed RUNNING while its children ran"
    assert parent.ended_at >= max(child.ended_at for child in children)


async def test_a_child_that_fails_its_run_fails_alone_and_its_parent_then_finishes(
    cluster: Cluster, acme: TenantFixture
):
    start_workers(cluster)
    parent = await start(acme, "test.plain", records=1, stepMs=100)
    # One chunk of 40 rows, a few hundred milliseconds each: the parent's own record is done long before.
    child = await start_child(
        acme, parent, "data_import", chunk_size=40, rows=40, malformedAtRow=39, badRowRate=0, latencyScale=50
    )

    child = await wait_for_status(child, *TERMINAL, timeout=60)

    assert (child.status, child.error) == (
        JobStatus.FAILED, "contacts-export.csv is malformed at row 39: unterminated quoted field"
    )
    [own_chunk] = await Chunk.filter(job_id=parent.id)
    assert own_chunk.status is ChunkStatus.COMPLETED and own_chunk.ended_at < child.ended_at
    # Only the child's end can move the parent on now.
    parent = await wait_for_status(parent, *TERMINAL, timeout=30)
    assert parent.status is JobStatus.FINISHED and parent.ended_at >= child.ended_at


async def test_stopping_the_parent_stops_its_children_and_resuming_continues_them(
    cluster: Cluster, acme: TenantFixture
):
    start_workers(cluster)
    operator = acme.actor(Role.OPERATOR)
    parent = await start(acme, "test.parent", records=2, children=3, childRecords=8, childStepMs=150)
    children = await children_running(parent, expected=6)

    stopping = await stop_job(operator, parent.id)

    assert stopping.status is JobStatus.STOPPING
    statuses = {child.status for child in await children_of(parent)}
    assert statuses <= {JobStatus.STOPPING, JobStatus.STOPPED}, statuses
    parent = await wait_for_status(parent, JobStatus.STOPPED, timeout=30)
    children = await children_of(parent)
    assert {child.status for child in children} == {JobStatus.STOPPED}
    assert all(child.done < 8 for child in children)
    assert parent.ended_at >= max(child.ended_at for child in children)
    frozen = await record_counts(children)
    assert sum(frozen.values()) > 0
    await a_later_job_finishes(acme)
    assert await record_counts(children) == frozen
    assert {child.status for child in await children_of(parent)} == {JobStatus.STOPPED}

    await resume_job(operator, parent.id)

    parent = await wait_for_status(parent, *TERMINAL, timeout=60)
    assert parent.status is JobStatus.FINISHED and parent.outcome is JobOutcome.SUCCEEDED
    for child in await children_of(parent):
        assert (child.status, child.outcome, child.done) == (JobStatus.FINISHED, JobOutcome.SUCCEEDED, 8)


async def test_canceling_the_parent_cancels_its_children(cluster: Cluster, acme: TenantFixture):
    start_workers(cluster)
    operator = acme.actor(Role.OPERATOR)
    parent = await start(acme, "test.parent", records=2, children=3, childRecords=10, childStepMs=200)
    await children_running(parent, expected=6)

    canceling = await cancel_job(operator, parent.id)

    assert canceling.status is JobStatus.CANCELING
    statuses = {child.status for child in await children_of(parent)}
    assert statuses <= {JobStatus.CANCELING, JobStatus.CANCELED}, statuses
    parent = await wait_for_status(parent, JobStatus.CANCELED, timeout=30)
    children = await children_of(parent)
    assert {child.status for child in children} == {JobStatus.CANCELED}
    assert parent.ended_at >= max(child.ended_at for child in children)
    chunks = await Chunk.filter(job_id__in=[child.id for child in children]).values_list("status", flat=True)
    assert set(chunks) == {ChunkStatus.CANCELED}
    open_records = await Record.filter(
        job_id__in=[child.id for child in children],
        status__in=(RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.WAITING),
    ).count()
    assert open_records == 0
    frozen = await record_counts(children)
    await a_later_job_finishes(acme)
    assert await record_counts(children) == frozen


@pytest.mark.parametrize("verb, settled", [(stop_job, JobStatus.STOPPED), (cancel_job, JobStatus.CANCELED)])
async def test_children_spawned_while_the_parent_winds_down_do_not_run_on(
    cluster: Cluster, acme: TenantFixture, verb, settled: JobStatus
):
    # The parent spawns children one record at a time; it is stopped (or canceled) mid-way,
    # and the record in flight still spawns its children after the request.
    start_workers(cluster)
    parent = await start(
        acme, "test.parent", records=40, children=5, childRecords=5, childStepMs=200, spawnMs=40
    )

    async def some_children() -> bool:
        return await Job.filter(parent_id=parent.id).count() >= 5

    await wait_until(some_children, timeout=30, what="the parent to spawn children")
    requested_at = utcnow()
    await verb(acme.actor(Role.OPERATOR), parent.id)
    parent = await wait_for_status(parent, settled, timeout=30)
    await a_later_job_finishes(acme)

    children = await children_of(parent)
    assert len(children) < 40 * 5, "the request should have come before all children were spawned"
    spawned_after = [child for child in children if child.created_at > requested_at]
    assert spawned_after, "a record in flight should have spawned children after the request"
    # Only children that were done before the request may have finished; the rest followed the parent.
    for child in children:
        if child.status is JobStatus.FINISHED:
            assert child.ended_at <= requested_at
        else:
            assert child.status is settled
    assert {child.status for child in spawned_after} == {settled}
    assert all(child.ended_at <= parent.ended_at for child in children)
