"""Fair scheduling on real workers: a huge job tree never makes the others wait behind it.

Work is shared per tenant, then per root job, and low-priority work
only gets the slots normal work leaves free. Orderings are read from the
chunks' ``started_at``, so the tests hold however slow the machine is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from domain.clock import utcnow
from domain.models import Chunk, Job
from domain.statuses import ChunkStatus, JobOutcome, JobStatus
from tests.cluster import Cluster, wait_until
from tests.conftest import MakeTenant, TenantFixture
from tests.workers.support import discard_open_jobs, start, start_child, wait_for_status

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)

SLOTS = 4
STEP_MS = 100


@pytest.fixture(autouse=True)
async def only_this_tests_work(cluster: Cluster) -> AsyncIterator[None]:
    await discard_open_jobs()
    yield
    await discard_open_jobs()


def start_workers(cluster: Cluster) -> None:
    cluster.start_worker(worker_concurrency=SLOTS)
    cluster.start_dispatcher()


async def big_tree(tenant: TenantFixture, children: int, chunks_each: int) -> Job:
    """A root job with ``children`` children of ``chunks_each`` one-record chunks each."""
    root = await start(tenant, "test.plain", records=1, stepMs=STEP_MS)
    for _ in range(children):
        await start_child(tenant, root, "test.plain", records=chunks_each, stepMs=STEP_MS, chunk_size=1)
    return root


async def chunk_starts(root: Job) -> list[datetime]:
    """When each started chunk of ``root``'s tree started, in order."""
    starts = await Chunk.filter(job__root_id=root.id).exclude(started_at=None).values_list("started_at", flat=True)
    return sorted(starts)


async def busy_with(root: Job, at_least: int) -> None:
    async def held() -> bool:
        return await Chunk.filter(job__root_id=root.id, status=ChunkStatus.RUNNING).count() >= at_least

    await wait_until(held, timeout=60, what=f"the workers to be busy with job tree {root.id}")


async def test_another_tenant_does_not_wait_behind_a_root_with_thousands_of_queued_chunks(
    cluster: Cluster, make_tenant: MakeTenant
):
    flooding, other = await make_tenant(), await make_tenant()
    children = 250
    flood = await big_tree(flooding, children=children, chunks_each=8)
    flood_chunks = 1 + children * 8
    start_workers(cluster)
    await busy_with(flood, SLOTS)

    small = await start(other, "test.plain", records=3, stepMs=STEP_MS, chunk_size=1)
    small = await wait_for_status(small, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert small.status is JobStatus.FINISHED and small.outcome is JobOutcome.SUCCEEDED
    assert small.started_at is not None
    first_small_start = min(await Chunk.filter(job_id=small.id).values_list("started_at", flat=True))
    flood_starts = await chunk_starts(flood)
    # Only what the busy slots started while the small job's records were enumerated ran
    # before its first chunk: a few chunk lengths, not the thousands queued.
    ahead = [at for at in flood_starts if small.created_at < at < first_small_start]
    print(f"{len(ahead)} chunks of the other tenant started before the small job's first")
    assert len(ahead) <= 2 * SLOTS, f"{len(ahead)} chunks of the other tenant went first"
    # The small job was done while the big tree had hardly begun.
    flood_started = sum(1 for at in flood_starts if at <= small.ended_at)
    assert flood_started < flood_chunks // 10
    finished_children = await Job.filter(parent_id=flood.id, ended_at__lte=small.ended_at).count()
    assert finished_children < children // 10
    # Queued children have not started: they still count their waiting time.
    waiting_children = await Job.filter(parent_id=flood.id, status=JobStatus.PENDING, started_at=None).count()
    assert waiting_children >= children // 2


async def test_two_roots_of_one_tenant_are_served_in_turn(cluster: Cluster, acme: TenantFixture):
    big = await big_tree(acme, children=100, chunks_each=3)
    big_chunks = 1 + 100 * 3
    small = await start(acme, "test.plain", records=12, stepMs=STEP_MS, chunk_size=1)
    start_workers(cluster)

    small = await wait_for_status(small, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert small.status is JobStatus.FINISHED and small.outcome is JobOutcome.SUCCEEDED
    small_starts = sorted(await Chunk.filter(job_id=small.id).values_list("started_at", flat=True))
    big_starts = await chunk_starts(big)
    # Both roots ran side by side: while the small root ran, the big one kept getting turns…
    big_meanwhile = [at for at in big_starts if small_starts[0] <= at <= small_starts[-1]]
    assert len(big_meanwhile) >= len(small_starts) // 3
    # …and the small root did not queue behind the big root's hundreds of chunks.
    big_before_small_done = sum(1 for at in big_starts if at <= small.ended_at)
    assert big_before_small_done < big_chunks // 4


async def test_low_priority_runs_only_when_normal_work_leaves_slots_free(
    cluster: Cluster, acme: TenantFixture
):
    normal_chunks = 40
    normal = await start(acme, "test.plain", records=normal_chunks, stepMs=STEP_MS, chunk_size=1)
    start_workers(cluster)
    await busy_with(normal, SLOTS)

    low = await start(acme, "test.plain", records=3, stepMs=STEP_MS, chunk_size=1, low_priority=True)
    low_waited_behind_normal = False

    async def normal_done() -> bool:
        nonlocal low_waited_behind_normal
        low_now = await Job.get(id=low.id)
        normal_waiting = await Chunk.filter(job_id=normal.id, status=ChunkStatus.PENDING, lease_owner=None).count()
        if low_now.status is JobStatus.PENDING:
            low_waited_behind_normal |= normal_waiting > 0
        else:
            # Normal chunks only ever leave the queue, so none can have been waiting when low started.
            assert normal_waiting == 0, f"low-priority job {low_now.status} while {normal_waiting} normal chunks wait"
        return (await Job.get(id=normal.id)).status is JobStatus.FINISHED

    await wait_until(normal_done, timeout=60, what="the normal job to finish")
    low = await wait_for_status(low, JobStatus.FINISHED, JobStatus.FAILED, timeout=30)

    assert low_waited_behind_normal, "the low-priority job should have been seen waiting"
    assert low.status is JobStatus.FINISHED and low.outcome is JobOutcome.SUCCEEDED
    first_low = await Chunk.filter(job_id=low.id).order_by("started_at").first()
    normal_starts = await Chunk.filter(job_id=normal.id).values_list("started_at", flat=True)
    # Nothing is reserved ahead of a slot: once low-priority work is taken, no normal chunk is
    # left. A slot takes its chunk a moment before it starts it, so a normal chunk taken just
    # before the first low one may start just after it, but never after that chunk ran.
    assert first_low is not None and first_low.ended_at is not None
    late = [at for at in normal_starts if at > first_low.ended_at]
    assert not late, f"{len(late)} normal chunks started after a low-priority chunk had run"
    assert low.started_at >= min(normal_starts)


# Slow enough that a slot frees about every 100 ms: the next starts after a newcomer
# arrives are the ones the fair order decides, not ones already under way.
SLOW_STEP_MS = 400
NEXT_STARTS = 8


async def share_of_next_starts(newcomer: Job, count: int = NEXT_STARTS) -> int:
    """Of the first ``count`` chunk starts after ``newcomer`` was created, how many were its tree's."""

    async def next_starts() -> list[int] | None:
        started = (
            await Chunk.filter(started_at__gt=newcomer.created_at)
            .order_by("started_at")
            .limit(count)
            .values_list("job__root_id", flat=True)
        )
        return started if len(started) == count else None

    roots = await wait_until(next_starts, timeout=60, what=f"{count} chunk starts after job {newcomer.id}")
    share = sum(1 for root in roots if root == newcomer.root_id)
    print(f"job {newcomer.id} got {share} of the next {count} chunk starts")
    return share


async def test_a_second_root_of_a_busy_tenant_gets_its_share_of_the_next_slots(
    cluster: Cluster, acme: TenantFixture
):
    first = await start(acme, "test.plain", records=48, stepMs=SLOW_STEP_MS, chunk_size=1)
    start_workers(cluster)
    await busy_with(first, SLOTS)

    second = await start(acme, "test.plain", records=12, stepMs=SLOW_STEP_MS, chunk_size=1)

    # Two roots of one tenant: about half of the next starts each.
    assert await share_of_next_starts(second) >= 3


async def test_a_second_tenant_gets_its_share_of_the_next_slots(cluster: Cluster, make_tenant: MakeTenant):
    busy_tenant, newcomer_tenant = await make_tenant(), await make_tenant()
    first = await start(busy_tenant, "test.plain", records=48, stepMs=SLOW_STEP_MS, chunk_size=1)
    start_workers(cluster)
    await busy_with(first, SLOTS)

    second = await start(newcomer_tenant, "test.plain", records=12, stepMs=SLOW_STEP_MS, chunk_size=1)

    assert await share_of_next_starts(second) >= 3


async def test_once_normal_work_is_ready_every_start_goes_to_it(cluster: Cluster, acme: TenantFixture):
    low = await start(acme, "test.plain", records=48, stepMs=SLOW_STEP_MS, chunk_size=1, low_priority=True)
    start_workers(cluster)
    await busy_with(low, SLOTS)

    normal = await start(acme, "test.plain", records=12, stepMs=SLOW_STEP_MS, chunk_size=1)
    await wait_until(
        lambda: Chunk.filter(job_id=normal.id).exists(), interval=0.01, what="the normal job's chunks"
    )
    ready_at = utcnow()
    normal = await wait_for_status(normal, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert normal.outcome is JobOutcome.SUCCEEDED
    last_normal_start = max(await Chunk.filter(job_id=normal.id).values_list("started_at", flat=True))
    low_starts = await Chunk.filter(job_id=low.id).exclude(started_at=None).values_list("started_at", flat=True)
    low_meanwhile = sum(1 for at in low_starts if ready_at < at < last_normal_start)
    print(f"{low_meanwhile} low-priority chunks started while the normal job had chunks ready")
    assert low_meanwhile == 0
