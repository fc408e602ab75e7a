"""Steps that misbehave fail their records, never their worker: it keeps its lease, stays online
and runs other jobs meanwhile."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

import jobtower.demo  # noqa: F401  (registers noop here as in the workers)
from domain.journey import decode
from domain.models import Chunk, JobLog, Record
from domain.statuses import JobOutcome, JobStatus, RecordStatus, StepStatus
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.job_types import HANGING_STEP_TIMEOUT, executions_key
from tests.workers.support import start, wait_for_status
from workers.dispatcher import live_worker_slots

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


async def workers_online(redis: Redis) -> int:
    workers, _ = await live_worker_slots(redis)
    return workers


async def test_a_step_that_hangs_fails_its_record_at_its_timeout_while_the_worker_runs_on(
    cluster: Cluster, acme: TenantFixture, redis: Redis
):
    cluster.start_worker(worker_concurrency=2)
    cluster.start_dispatcher()
    hanging = await start(acme, "test.hanging", records=1)
    await wait_until(lambda: redis.hget(executions_key(hanging.id), "0"), what="the hanging step to start")

    other = await start(acme, "test.plain", records=3, chunk_size=1)
    other = await wait_for_status(other, JobStatus.FINISHED, timeout=30)
    online_while_hanging = await workers_online(redis)
    hanging = await wait_for_status(hanging, JobStatus.FINISHED, timeout=60)

    record = await Record.get(job_id=hanging.id)
    timeout = f"timed out after {HANGING_STEP_TIMEOUT.total_seconds():g} s"
    assert record.status is RecordStatus.FAILED
    assert record.error == timeout
    [hang] = decode(record.journey, hanging.step_names, record.started_at)
    assert (hang.name, hang.status, hang.error) == ("hang", StepStatus.FAILED, timeout)
    assert hanging.outcome is JobOutcome.WITH_ERRORS
    assert await JobLog.filter(job_id=hanging.id, message=f"record 0 failed at step hang: {timeout}").exists()
    # The other job ran while the step hung.
    assert other.outcome is JobOutcome.SUCCEEDED
    assert other.ended_at < record.ended_at
    # Its retry ran too, and each attempt once: through both attempts, each longer than the
    # lease, the heartbeat held the chunk, so no worker took it back to run it again.
    assert await redis.hget(executions_key(hanging.id), "0") == b"2"
    assert (await Chunk.get(job_id=hanging.id)).attempts == 1
    assert online_while_hanging == 1
    assert await workers_online(redis) == 1


async def test_a_whole_float_for_an_integer_param_runs_as_that_integer(cluster: Cluster, acme: TenantFixture):
    """records: 2.0 once sat PENDING for good (the enumerator's range() refused the float)."""
    cluster.start_worker()
    cluster.start_dispatcher()

    job = await start(acme, "noop", records=2.0, steps=2.0)

    job = await wait_for_status(job, JobStatus.FINISHED, timeout=30)
    assert (job.outcome, job.total, job.succeeded) == (JobOutcome.SUCCEEDED, 2, 2)
    for record in await Record.filter(job_id=job.id):
        assert [step.name for step in decode(record.journey, job.step_names, record.started_at)] == ["step1", "step2"]
