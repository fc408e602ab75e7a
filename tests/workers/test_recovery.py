"""A worker killed with SIGKILL in the middle of a chunk loses nothing and doubles nothing."""

from __future__ import annotations

import signal

import pytest
from redis.asyncio import Redis

from domain.models import Chunk, Job, JobLog, Record
from domain.statuses import ChunkStatus, JobOutcome, JobStatus, RecordStatus
from tests.cluster import Cluster, wait_until
from tests.job_types import executions_key
from tests.workers.support import start, wait_for_records, wait_for_status

RECORDS = 2000
CHUNK = 50


async def kill_while_holding_chunks(cluster: Cluster, name: str, job: Job) -> list[int]:
    """SIGKILL the worker at a moment it holds running chunks of ``job``; their ids.

    The worker is frozen with SIGSTOP while its chunks are read, so the kill cannot land
    in the instant between two chunks, when it holds none and nothing would be recovered.
    """
    process = cluster.processes[name]
    owned_by_it = f"-{process.pid}-"  # lease owners are "<host>-<pid>-<id>/<run>"

    async def frozen_holding_chunks() -> list[int]:
        process.send_signal(signal.SIGSTOP)
        held = await Chunk.filter(
            job_id=job.id, status=ChunkStatus.RUNNING, lease_owner__contains=owned_by_it
        ).values_list("id", flat=True)
        if not held:
            process.send_signal(signal.SIGCONT)
        return held

    held = await wait_until(frozen_holding_chunks, timeout=30, what=f"{name} to hold chunks")
    cluster.kill(name, signal.SIGKILL)
    return held


@pytest.mark.parametrize("database", ["postgres", "sqlite"], indirect=True)
async def test_killed_worker_job_still_finishes_with_one_outcome_per_record(
    cluster: Cluster, acme, redis: Redis
):
    cluster.start_worker("doomed", worker_concurrency=2)
    cluster.start_dispatcher()
    job = await start(acme, "test.counted", records=RECORDS, stepMs=3, chunk_size=CHUNK)
    await wait_for_records(job, CHUNK * 2)
    held = await kill_while_holding_chunks(cluster, "doomed", job)

    cluster.start_worker("survivor", worker_concurrency=2)
    job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=120)

    assert job.status is JobStatus.FINISHED and job.outcome is JobOutcome.SUCCEEDED
    rows = await Record.filter(job_id=job.id).values_list("position", "status")
    assert len(rows) == RECORDS
    assert {position for position, _ in rows} == set(range(RECORDS))
    assert {status for _, status in rows} == {RecordStatus.SUCCEEDED}
    assert (job.done, job.succeeded, job.failed, job.total) == (RECORDS, RECORDS, 0, RECORDS)

    reruns = dict(await Chunk.filter(id__in=held).values_list("id", "attempts"))
    assert all(attempts >= 2 for attempts in reruns.values()), f"the dead worker's chunks ran again: {reruns}"
    rerun = await Chunk.filter(job_id=job.id, attempts__gte=2).count()
    assert await JobLog.filter(job_id=job.id, message__contains="lost its worker").exists()
    # Steps run at least once; only records that were in flight may have run twice.
    executions = {int(count) for count in (await redis.hgetall(executions_key(job.id))).values()}
    assert min(executions) == 1
    runs = await redis.hvals(executions_key(job.id))
    assert len(runs) == RECORDS
    assert sum(1 for count in runs if int(count) > 1) <= rerun * CHUNK
