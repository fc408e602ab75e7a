"""The fair order in which free slots claim chunks (``domain.execution.claim_next_chunk``)
and enumerations are handed out (``domain.scheduling.enumerations_to_hand_out``).

Each claim leaves its chunk QUEUED under a lease, as a worker slot would: the
next claim sees it in flight. Tenant first, then root job, low priority last;
ties go to whoever has run less, then to the oldest.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from domain.access import Role
from domain.clock import utcnow
from domain.execution import (
    ClaimedChunk,
    RecordResult,
    claim_next_chunk,
    hold_enumeration,
    release_chunk,
    save_results,
    start_chunk,
)
from domain.models import Chunk, Job, Record
from domain.scheduling import enumerations_to_hand_out
from domain.statuses import ChunkOperation, ChunkStatus, JobStatus, RecordStatus
from tests.conftest import MakeTenant, TenantFixture
from tests.domain.scenarios import add_chunk, put_in, start
from tests.workers.support import discard_open_jobs

LEASE = timedelta(minutes=5)
_owners = itertools.count(1)


@pytest.fixture(autouse=True)
async def only_this_tests_chunks(database: str) -> AsyncIterator[None]:
    """A claim takes the fairest chunk of the whole database: other tests' work must not be there."""
    await discard_open_jobs()
    yield
    await discard_open_jobs()


async def job_with_chunks(
    tenant: TenantFixture, chunks: int, *, parent: Job | None = None, low_priority: bool = False
) -> Job:
    job = await start(
        tenant.actor(Role.ADMIN), parent_id=parent.id if parent else None, low_priority=low_priority
    )
    for index in range(chunks):
        await add_chunk(job, index, ChunkStatus.PENDING, [RecordStatus.PENDING])
    return await Job.get(id=job.id)


async def run_to_its_end(claimed: ClaimedChunk) -> None:
    """The slot starts the chunk, its records succeed and the slot lets it go, as a worker's would."""
    owner = claimed.chunk.lease_owner
    assert await start_chunk(claimed, owner)
    now = utcnow()
    results = [
        RecordResult(record.position, record.key, RecordStatus.SUCCEEDED, now, now, [], record_id=record.id)
        for record in await Record.filter(chunk_id=claimed.chunk.id)
    ]
    assert await save_results(claimed.job, claimed.chunk.id, owner, results, claimed.chunk.range_end)
    assert await release_chunk(claimed.chunk.id, owner, ChunkOperation.COMPLETE)


async def claim(slots: int) -> list[ClaimedChunk]:
    """What ``slots`` free slots take, one after the other; stops when nothing is ready."""
    claimed = []
    for _ in range(slots):
        chunk = await claim_next_chunk(f"slot-{next(_owners)}", LEASE)
        if chunk is None:
            break
        claimed.append(chunk)
    return claimed


def tenants_of(claimed: list[ClaimedChunk], *tenants: TenantFixture) -> list[int]:
    """The claims by tenant, numbered 1, 2, … in the order the tenants are given."""
    number = {tenant.tenant.id: n for n, tenant in enumerate(tenants, start=1)}
    return [number[c.job.tenant_id] for c in claimed]


def roots_of(claimed: list[ClaimedChunk], *roots: Job) -> list[int]:
    number = {root.id: n for n, root in enumerate(roots, start=1)}
    return [number[c.job.root_id] for c in claimed]


async def test_a_tenant_with_a_huge_tree_does_not_keep_another_tenant_waiting(make_tenant: MakeTenant):
    flooding, other = await make_tenant(), await make_tenant()
    flood = await job_with_chunks(flooding, 1)
    for _ in range(30):
        await job_with_chunks(flooding, 2, parent=flood)
    await job_with_chunks(other, 3)

    assert tenants_of(await claim(4), flooding, other) == [1, 2, 1, 2]


async def test_slots_alternate_between_tenants_until_one_runs_out(make_tenant: MakeTenant):
    first, second, third = await make_tenant(), await make_tenant(), await make_tenant()
    await job_with_chunks(first, 5)
    await job_with_chunks(second, 2)
    await job_with_chunks(third, 5)

    assert tenants_of(await claim(9), first, second, third) == [1, 2, 3, 1, 2, 3, 1, 3, 1]


async def test_the_tenant_with_less_work_in_flight_is_served_first(make_tenant: MakeTenant):
    busy, newcomer = await make_tenant(), await make_tenant()
    await job_with_chunks(busy, 8)
    await claim(3)
    await job_with_chunks(newcomer, 5)

    # The newcomer catches up with the three running chunks, then they alternate.
    assert tenants_of(await claim(5), busy, newcomer) == [2, 2, 2, 1, 2]


async def test_roots_of_one_tenant_share_its_slots(acme: TenantFixture):
    big = await job_with_chunks(acme, 0)
    for _ in range(20):
        await job_with_chunks(acme, 1, parent=big)
    small = await job_with_chunks(acme, 3)

    assert roots_of(await claim(6), big, small) == [1, 2, 1, 2, 1, 2]


async def test_the_root_with_less_in_flight_is_served_first_within_a_tenant(acme: TenantFixture):
    first = await job_with_chunks(acme, 7)
    await claim(2)
    second = await job_with_chunks(acme, 5)

    assert roots_of(await claim(4), first, second) == [2, 2, 1, 2]


async def test_each_freed_slot_goes_to_the_root_that_has_less_running(acme: TenantFixture):
    first = await job_with_chunks(acme, 20)
    running = deque(await claim(4))
    second = await job_with_chunks(acme, 20)

    next_starts = []
    for _ in range(8):
        await run_to_its_end(running.popleft())  # the oldest running chunk ends; its slot claims again
        running.extend(started := await claim(1))
        next_starts += started

    # The first root held every slot: the newcomer gets the freed ones until they are even.
    assert roots_of(next_starts, first, second) == [2, 2, 1, 1, 2, 2, 1, 1]


async def test_on_a_tie_the_root_that_has_run_less_goes_first(acme: TenantFixture):
    older = await job_with_chunks(acme, 6)
    for claimed in await claim(3):
        await run_to_its_end(claimed)
    newer = await job_with_chunks(acme, 6)

    # Nothing in flight on either side, but the older root has done three records already.
    assert roots_of(await claim(4), older, newer) == [2, 1, 2, 1]


async def test_children_count_towards_their_root_not_as_roots_of_their_own(acme: TenantFixture):
    parent = await job_with_chunks(acme, 0)
    await job_with_chunks(acme, 4, parent=parent)
    await job_with_chunks(acme, 4, parent=parent)
    single = await job_with_chunks(acme, 4)

    assert roots_of(await claim(4), parent, single) == [1, 2, 1, 2]


async def test_within_a_root_the_oldest_job_and_chunk_go_first(acme: TenantFixture):
    parent = await job_with_chunks(acme, 0)
    first = await job_with_chunks(acme, 3, parent=parent)
    second = await job_with_chunks(acme, 3, parent=parent)

    claimed = await claim(6)

    assert [(c.job.id, c.chunk.index) for c in claimed] == [
        (job.id, index) for job in (first, second) for index in range(3)
    ]


async def test_low_priority_waits_while_any_normal_chunk_is_ready(make_tenant: MakeTenant):
    low_tenant, normal_tenant = await make_tenant(), await make_tenant()
    low = await job_with_chunks(low_tenant, 5, low_priority=True)
    normal = await job_with_chunks(normal_tenant, 2)

    claimed = await claim(4)

    # The low-priority tenant has nothing in flight, yet normal work goes first.
    assert [c.job.id for c in claimed] == [normal.id, normal.id, low.id, low.id]


async def test_low_priority_work_is_shared_fairly_too(make_tenant: MakeTenant):
    first, second = await make_tenant(), await make_tenant()
    await job_with_chunks(first, 4, low_priority=True)
    await job_with_chunks(second, 4, low_priority=True)

    assert tenants_of(await claim(4), first, second) == [1, 2, 1, 2]


async def test_only_chunks_of_jobs_that_may_run_are_claimed(acme: TenantFixture):
    for status in (JobStatus.STOPPED, JobStatus.CANCELING, JobStatus.FINISHED):
        await put_in(await job_with_chunks(acme, 2), status)
    await put_in(await job_with_chunks(acme, 2), JobStatus.STOPPING)  # stoppable: winds down
    still_working = await put_in(await job_with_chunks(acme, 1), JobStatus.STOPPING, stoppable=False)

    claimed = await claim(10)

    assert [c.job.id for c in claimed] == [still_working.id]
    assert await claim_next_chunk("one-more-slot", LEASE) is None


async def test_a_claim_leases_the_chunk_and_its_start_starts_the_job(acme: TenantFixture):
    job = await job_with_chunks(acme, 1)
    assert job.status is JobStatus.PENDING

    claimed = await claim_next_chunk("slot-under-test", LEASE)

    assert claimed is not None and claimed.job.id == job.id
    chunk = await Chunk.get(id=claimed.chunk.id)
    assert (chunk.status, chunk.lease_owner, chunk.attempts) == (ChunkStatus.QUEUED, "slot-under-test", 1)
    # Taken is not started: the job waits until the slot starts the chunk's first record.
    assert (await Job.get(id=job.id)).status is JobStatus.PENDING and chunk.started_at is None

    assert await start_chunk(claimed, "slot-under-test")

    assert claimed.job.status is JobStatus.RUNNING and claimed.job.started_at is not None
    chunk = await Chunk.get(id=claimed.chunk.id)
    assert chunk.status is ChunkStatus.RUNNING and chunk.lease_expires_at > chunk.started_at


async def test_slots_claiming_at_once_never_take_the_same_chunk(acme: TenantFixture, make_tenant: MakeTenant):
    await job_with_chunks(acme, 6)
    await job_with_chunks(await make_tenant(), 6)

    claimed = await asyncio.gather(*(claim_next_chunk(f"racer-{n}", LEASE) for n in range(16)))

    taken = [c.chunk.id for c in claimed if c is not None]
    assert len(taken) == 12 and len(set(taken)) == 12
    assert await Chunk.filter(id__in=taken, status=ChunkStatus.QUEUED).count() == 12


async def enumerate_soon(tenant: TenantFixture, parent: Job | None = None) -> Job:
    """A job that still needs its chunks: its enumeration is due."""
    return await start(tenant.actor(Role.ADMIN), parent_id=parent.id if parent else None)


async def hand_out(lanes: int) -> list[int]:
    """What the dispatcher hands out to ``lanes`` enumeration lanes, as it does: held until they end."""
    handed = await enumerations_to_hand_out(lanes)
    for job_id in handed:
        assert await hold_enumeration(job_id, LEASE)
    return handed


async def enumerated(*jobs: Job) -> None:
    await Job.filter(id__in=[job.id for job in jobs]).update(enumerated=True, enumeration_lease_expires_at=None)


async def test_enumerations_go_out_no_faster_than_lanes_free_up_and_fairly(make_tenant: MakeTenant):
    flooding, other = await make_tenant(), await make_tenant()
    flood = await enumerate_soon(flooding)
    children = [await enumerate_soon(flooding, parent=flood) for _ in range(10)]
    small = await enumerate_soon(other)

    assert await hand_out(lanes=2) == [flood.id, small.id]
    assert await hand_out(lanes=2) == []  # both lanes are busy
    await enumerated(flood, small)
    assert await hand_out(lanes=2) == [children[0].id, children[1].id]

    newcomer = await enumerate_soon(await make_tenant())
    await enumerated(children[0])

    # One lane is free: the tenant with nothing in hand gets it, not the next of ten children.
    assert await hand_out(lanes=2) == [newcomer.id]


async def test_a_new_root_is_enumerated_before_the_rest_of_a_big_tree_of_its_tenant(acme: TenantFixture):
    flood = await enumerate_soon(acme)
    await enumerated(flood)
    children = [await enumerate_soon(acme, parent=flood) for _ in range(10)]
    assert await hand_out(lanes=2) == [children[0].id, children[1].id]

    later_root = await enumerate_soon(acme)
    await enumerated(children[0])

    # The tree still has one in hand, the new root none: the free lane is the new root's.
    assert await hand_out(lanes=2) == [later_root.id]


async def test_enumerations_of_jobs_that_may_not_run_are_not_handed_out(acme: TenantFixture):
    stopped = await put_in(await enumerate_soon(acme), JobStatus.STOPPED)
    await put_in(await enumerate_soon(acme), JobStatus.CANCELING)
    working = await put_in(await enumerate_soon(acme), JobStatus.STOPPING, stoppable=False)

    assert await hand_out(lanes=5) == [working.id]
    assert stopped.enumeration_lease_expires_at is None
