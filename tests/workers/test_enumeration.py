"""A big job's first records run while its keys are still being enumerated: the time to its
first record does not grow with its size; and a slow enumeration keeps its hold, so it runs once."""

from __future__ import annotations

from redis.asyncio import Redis

from domain.models import Chunk, Record
from domain.statuses import JobStatus
from tests.cluster import FAST_SETTINGS, Cluster, wait_until
from tests.conftest import TenantFixture
from tests.job_types import enumerations_key
from tests.workers.deployment import finished_once_each, start_workers
from tests.workers.support import start, wait_for_status

CHUNK_SIZE = 10
# Chunks an enumeration used to write before any of them could start (its first round).
FIRST_ROUND_BEFORE = 100
RECORDS = 120 * CHUNK_SIZE


async def test_the_first_records_run_before_the_enumeration_has_written_a_round_of_chunks(
    cluster: Cluster, acme: TenantFixture
):
    cluster.start_worker()
    cluster.start_dispatcher()
    # 120 chunks whose keys come 5 ms apart: the whole enumeration takes 6 s.
    job = await start(acme, "test.plain", records=RECORDS, keyMs=5, chunk_size=CHUNK_SIZE)

    async def first_record_started() -> bool:
        return await Record.filter(job_id=job.id).exclude(started_at=None).exists()

    await wait_until(first_record_started, timeout=60, interval=0.02, what="the job's first record to start")
    chunks_then = await Chunk.filter(job_id=job.id).count()

    assert chunks_then < FIRST_ROUND_BEFORE
    finished = await wait_for_status(job, JobStatus.FINISHED, timeout=120)
    assert finished.done == RECORDS


async def test_an_enumeration_whose_rounds_outlast_its_lease_is_not_handed_out_again(
    cluster: Cluster, acme: TenantFixture, redis: Redis
):
    cluster.start_dispatcher()
    await start_workers(cluster, "one", "other")
    # A round of 100 keys 40 ms apart takes 4 s, the next 8 s: each longer than the lease.
    assert 100 * 0.040 > FAST_SETTINGS["lease_seconds"]
    job = await start(acme, "test.plain", records=300, keyMs=40, chunk_size=100, tag="slow")

    await finished_once_each(job, 300, timeout=60)
    assert int(await redis.get(enumerations_key("slow"))) == 1
