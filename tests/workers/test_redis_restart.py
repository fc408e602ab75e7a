"""Redis restarts empty in the middle of a job: nothing is lost, the truth comes back from the database."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from domain.models import Record
from domain.statuses import JobOutcome, JobStatus, RecordStatus
from tests.cluster import Cluster, wait_until
from tests.services import free_port
from tests.workers.support import start, wait_for_records, wait_for_status
from workers import keys
from workers.redis_server import EmbeddedRedis

RECORDS = 1500


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_job_survives_a_redis_restart_and_live_progress_returns(
    cluster: Cluster, acme, tmp_path, monkeypatch
):
    port = free_port()
    own_redis = EmbeddedRedis(tmp_path / "redis", port=port)
    cluster.redis_url = own_redis.start()
    monkeypatch.setenv("REDIS_URL", cluster.redis_url)  # test.counted counts here
    try:
        cluster.start_worker("worker", worker_concurrency=2)
        cluster.start_dispatcher()
        job = await start(acme, "test.counted", records=RECORDS, stepMs=4, chunk_size=50)
        await wait_for_records(job, 200)

        own_redis.stop()
        own_redis.start()  # same port, no data: streams, groups, presence and progress are gone
        redis = Redis.from_url(cluster.redis_url)

        async def live_progress_is_back() -> bool:
            events = await redis.xrange(keys.tenant_events(acme.tenant.id))
            return bool(events) or (await Record.filter(job_id=job.id).count()) == RECORDS

        await wait_until(live_progress_is_back, timeout=30, what="progress events published to Redis again")
        await wait_until(lambda: redis.exists(keys.EPOCH), timeout=30, what="the dispatcher to notice the empty Redis")

        job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=120)
        assert job.status is JobStatus.FINISHED and job.outcome is JobOutcome.SUCCEEDED
        statuses = await Record.filter(job_id=job.id).values_list("status", flat=True)
        assert len(statuses) == RECORDS and set(statuses) == {RecordStatus.SUCCEEDED}
        assert (job.done, job.succeeded) == (RECORDS, RECORDS)
        await redis.aclose()
    finally:
        cluster.stop_all()
        own_redis.stop()
