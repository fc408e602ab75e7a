"""Start estimates against what happened, on real workers: one worker with two slots is busy with
one job of known chunk durations when two more are queued behind it; each one's estimated start,
taken when it was queued, is compared with its real start.

The error of each estimate is printed and kept as a test property (``estimate_error_seconds``),
so a run's report shows how far off they were.
"""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from domain.clock import utcnow
from domain.estimates import QueuePlace, queue_places
from domain.models import Chunk, Job
from domain.statuses import ChunkStatus
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.workers.support import start
from workers.dispatcher import live_worker_slots

SLOTS = 2
# A chunk of ten records of a tenth of a second each: about a second.
CHUNK = {"chunk_size": 10, "stepMs": 100}
# How far an estimate may be off: a second, or a quarter of the wait, whichever is more.
TOLERANCE_SECONDS = 1.0
TOLERANCE_SHARE = 0.25


async def completed_chunks(job: Job, at_least: int) -> None:
    async def enough() -> bool:
        return await Chunk.filter(job_id=job.id, status=ChunkStatus.COMPLETED).count() >= at_least

    await wait_until(enough, timeout=60, what=f"{at_least} completed chunks of job {job.id}")


async def ready(job: Job) -> None:
    async def has_chunks() -> bool:
        return await Chunk.filter(job_id=job.id).exists()

    await wait_until(has_chunks, timeout=30, what=f"the chunks of job {job.id}")


async def started_at(job: Job) -> datetime:
    async def started() -> datetime | None:
        return (await Job.get(id=job.id)).started_at

    return await wait_until(started, timeout=60, what=f"job {job.id} to start")  # type: ignore[return-value]


async def test_a_queued_jobs_estimated_start_is_close_to_its_real_start(
    cluster: Cluster, redis: Redis, acme: TenantFixture, record_property
):
    cluster.start_worker(worker_concurrency=SLOTS)
    cluster.start_dispatcher()
    busy = await start(acme, "test.timed", records=120, **CHUNK)  # twelve chunks: six seconds on two slots
    await completed_chunks(busy, at_least=2)  # how long its chunks take is known now
    await wait_until(lambda: _slots(redis), timeout=30, what="the worker's slots")
    # Another root gets the next free slot; low priority waits for every chunk of the busy job.
    next_up = await start(acme, "test.timed", records=10, **CHUNK)
    last = await start(acme, "test.timed", records=10, low_priority=True, **CHUNK)
    for job in (next_up, last):
        await ready(job)
    queued_at = utcnow()

    places = await queue_places([next_up.id, last.id], worker_slots=await _slots(redis), now=queued_at)

    assert [places[job.id].position for job in (next_up, last)] == [1, 2]
    errors = {}
    for name, job in (("next", next_up), ("low priority", last)):
        place: QueuePlace = places[job.id]
        assert place.estimated_start_at is not None
        actual = await started_at(job)
        error = (actual - place.estimated_start_at).total_seconds()
        waited = (actual - queued_at).total_seconds()
        errors[name] = error
        print(f"estimated start of the {name} job: off by {error:+.2f} s after a wait of {waited:.2f} s")
        assert abs(error) <= max(TOLERANCE_SECONDS, TOLERANCE_SHARE * waited), (name, error, waited)
    record_property("estimate_error_seconds", errors)


async def _slots(redis: Redis) -> int:
    return (await live_worker_slots(redis))[1]
