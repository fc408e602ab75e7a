"""Where a waiting job stands in line and when it should start (``domain.estimates``), checked
against the claims free slots really make (``domain.execution.claim_next_chunk``).

Rows are laid out by hand, every chunk of one record; slots take chunks and let them go the
way workers do, the oldest running chunk ending first, as when every chunk takes as long.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta

import pytest

from domain.clock import utcnow
from domain.estimates import MAX_CLAIMS, MAX_JOBS, Durations, queue_places, replay_claims
from domain.execution import ClaimedChunk, RecordResult, claim_next_chunk, release_chunk, save_results, start_chunk
from domain.models import Chunk, Job, Record
from domain.scheduling import queue_state
from domain.statuses import ChunkOperation, JobStatus, RecordStatus
from tests.conftest import MakeTenant, TenantFixture
from tests.domain.test_scheduling import LEASE, job_with_chunks, only_this_tests_chunks  # noqa: F401
from tests.workers.support import start

# Every chunk takes a second: the oldest running one ends first.
A_SECOND_PER_RECORD = Durations(per_record={}, overall=1.0)


async def claim_and_start(owner: str) -> ClaimedChunk | None:
    claimed = await claim_next_chunk(owner, LEASE)
    if claimed is not None:
        assert await start_chunk(claimed, owner)
    return claimed


async def finish(claimed: ClaimedChunk) -> None:
    """Its record succeeds and its slot lets it go, as a worker's would."""
    owner = claimed.chunk.lease_owner
    now = utcnow()
    results = [
        RecordResult(record.position, record.key, RecordStatus.SUCCEEDED, now, now, [], record_id=record.id)
        for record in await Record.filter(chunk_id=claimed.chunk.id)
    ]
    assert await save_results(claimed.job, claimed.chunk.id, owner, results, claimed.chunk.range_end)
    assert await release_chunk(claimed.chunk.id, owner, ChunkOperation.COMPLETE)


async def a_busy_queue(make_tenant: MakeTenant) -> list[Job]:
    """A tenant with a tree of children, a second root and a low-priority job elsewhere, and
    tenants with less; every job ends once its chunks are done."""
    flooding, steady, late = await make_tenant(), await make_tenant(), await make_tenant()
    flood = await job_with_chunks(flooding, 2)
    jobs = [
        flood,
        *[await job_with_chunks(flooding, 2, parent=flood) for _ in range(4)],
        await job_with_chunks(flooding, 3),
        await job_with_chunks(steady, 4),
        await job_with_chunks(steady, 2, low_priority=True),
        await job_with_chunks(late, 1),
        await job_with_chunks(late, 2, low_priority=True),
    ]
    await Job.filter(id__in=[job.id for job in jobs]).update(enumerated=True)
    return jobs


@pytest.mark.parametrize("slots", [1, 3])
async def test_queue_positions_are_the_order_in_which_freed_slots_really_take_the_jobs(
    make_tenant: MakeTenant, slots: int
):
    jobs = await a_busy_queue(make_tenant)
    running = deque([await claim_and_start(f"slot-{n}") for n in range(slots)])
    waiting = set(await Job.filter(id__in=[job.id for job in jobs], status=JobStatus.PENDING).values_list("id", flat=True))

    forecast = replay_claims(await queue_state(MAX_CLAIMS, MAX_JOBS), A_SECOND_PER_RECORD, slots, utcnow())

    claims = []
    while running:
        ended = running.popleft()
        await finish(ended)  # the oldest running chunk ends; its slot takes the next
        if (claimed := await claim_and_start(ended.chunk.lease_owner)) is not None:
            running.append(claimed)
            claims.append(claimed.job.id)
    first_claims = list(dict.fromkeys(job_id for job_id in claims if job_id in waiting))

    # The forecast stops once every waiting job has its place: up to there it is the real sequence.
    assert forecast.claims == claims[: len(forecast.claims)] and forecast.claims
    assert sorted(forecast.places, key=lambda job_id: forecast.places[job_id].position) == first_claims
    assert sorted(place.position for place in forecast.places.values()) == list(range(1, len(waiting) + 1))
    # Low-priority jobs come last, and the later a place, the later its start.
    low = {job.id for job in jobs if job.low_priority}
    assert set(first_claims[-len(low & waiting):]) == low & waiting
    starts = [forecast.places[job_id].estimated_start_at for job_id in first_claims]
    assert None not in starts and starts == sorted(starts)


async def test_a_job_starts_when_the_chunks_ahead_of_it_have_run(acme: TenantFixture):
    await job_with_chunks(acme, 6)
    held = [await claim_and_start(f"slot-{n}") for n in range(2)]
    behind = await job_with_chunks(acme, 1, low_priority=True)

    forecast = replay_claims(await queue_state(MAX_CLAIMS, MAX_JOBS), A_SECOND_PER_RECORD, 2, utcnow())

    # Two slots, a second a chunk: the running two end a second after they started, the four
    # ready ahead run two by two after them, and the first slot then takes the low-priority chunk.
    first_start = min(await Chunk.filter(id__in=[c.chunk.id for c in held]).values_list("started_at", flat=True))
    place = forecast.places[behind.id]
    assert place.position == 1
    assert abs((place.estimated_start_at - (first_start + timedelta(seconds=3))).total_seconds()) < 0.01


async def test_without_workers_the_line_is_known_but_not_when(acme: TenantFixture):
    first, second = await job_with_chunks(acme, 2), await job_with_chunks(acme, 2)

    places = await queue_places([first.id, second.id], worker_slots=0, now=utcnow())

    assert [(places[job.id].position, places[job.id].estimated_start_at) for job in (first, second)] == [
        (1, None),
        (2, None),
    ]


async def test_a_job_without_ready_chunks_or_not_pending_has_no_place(acme: TenantFixture):
    enumerating = await start(acme, "test.plain", records=300)  # beyond one chunk: none yet
    running = await job_with_chunks(acme, 3)
    await claim_and_start("slot")
    queued = await job_with_chunks(acme, 1)

    places = await queue_places([enumerating.id, running.id, queued.id], worker_slots=1, now=utcnow())

    assert set(places) == {queued.id}
