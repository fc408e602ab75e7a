"""A worker killed with SIGKILL in the middle of a chunk loses nothing and doubles nothing."""

from __future__ import annotations

import signal

import pytest
from redis.asyncio import Redis

from domain.models import Chunk, JobLog, Record
from domain.statuses import JobOutcome, JobStatus, RecordStatus
from tests.cluster import Cluster, wait_until
from tests.job_types import executions_key
from tests.workers.support import start, wait_for_records, wait_for_status

RECORDS = 2000
CHUNK = 50


@pytest.mark.parametrize("database", ["postgres", "sqlite"], indirect=True)
async def test_killed_worker_job_still_finishes_with_one_outcome_per_record(
    cluster: Cluster, acme, redis: Redis
):
    cluster.start_worker("doomed", worker_concurrency=2)
    cluster.start_dispatcher()
    job = await start(acme, "test.counted", records=RECORDS, stepMs=3, chunk_size=CHUNK)
    await wait_for_records(job, CHUNK * 2)

    async def holds_chunks() -> int:
        # Between two chunks the worker may hold none for a moment.
        return await Chunk.filter(job_id=job.id, status="RUNNING").exclude(lease_owner=None).count()

    await wait_until(holds_chunks, timeout=30, what="the doomed worker to hold chunks when it dies")

    cluster.kill("doomed", signal.SIGKILL)
    cluster.start_worker("survivor", worker_concurrency=2)
    job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=120)

    assert job.status is JobStatus.FINISHED and job.outcome is JobOutcome.SUCCEEDED
    rows = await Record.filter(job_id=job.id).values_list("position", "status")
    assert len(rows) == RECORDS
    assert {position for position, _ in rows} == set(range(RECORDS))
    assert {status for _, status in rows} == {RecordStatus.SUCCEEDED}
    assert (job.done, job.succeeded, job.failed, job.total) == (RECORDS, RECORDS, 0, RECORDS)

    rerun = await Chunk.filter(job_id=job.id, attempts__gte=2).count()
    assert rerun >= 1, "the chunks of the dead worker ran again"
    assert await JobLog.filter(job_id=job.id, message__contains="lost its worker").exists()
    # Steps run at least once; only records that were in flight may have run twice.
    executions = {int(count) for count in (await redis.hgetall(executions_key(job.id))).values()}
    assert min(executions) == 1
    runs = await redis.hvals(executions_key(job.id))
    assert len(runs) == RECORDS
    assert sum(1 for count in runs if int(count) > 1) <= rerun * CHUNK
