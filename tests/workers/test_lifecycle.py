"""Stop, resume, cancel and force stop on real workers, as an operator sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from domain.access import Role
from domain.errors import InvalidTransition
from domain.jobs import cancel_job, complete_wait, force_stop_job, resume_job, stop_job
from domain.journey import decode
from domain.models import Chunk, Job, JobEvent, JobLog, Record
from domain.statuses import TERMINAL, ChunkStatus, JobOutcome, JobStatus, RecordStatus, StepStatus
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.job_types import executions_key
from tests.workers.support import (
    discard_open_jobs,
    reload,
    start,
    wait_for_records,
    wait_for_status,
)

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)

RECORDS = 400
CHUNK = 20


@pytest.fixture(autouse=True)
async def only_this_tests_work(cluster: Cluster) -> AsyncIterator[None]:
    await discard_open_jobs()
    yield
    await discard_open_jobs()


def start_workers(cluster: Cluster, concurrency: int = 2) -> None:
    cluster.start_worker(worker_concurrency=concurrency)
    cluster.start_dispatcher()


async def record_count(job: Job) -> int:
    return await Record.filter(job_id=job.id).count()


async def a_later_job_finishes(tenant: TenantFixture) -> None:
    """Proof that the workers kept taking work meanwhile: whatever could still run, would have."""
    later = await start(tenant, "test.plain", records=3, chunk_size=1)
    await wait_for_status(later, JobStatus.FINISHED, timeout=30)


async def statuses_over_time(job: Job) -> list[JobStatus]:
    return [event.to_status for event in await JobEvent.filter(job_id=job.id).order_by("seq")]


async def test_stop_then_resume_continues_from_the_cursors_and_runs_every_record_once(
    cluster: Cluster, acme: TenantFixture, redis: Redis
):
    start_workers(cluster)
    operator = acme.actor(Role.OPERATOR)
    job = await start(acme, "test.counted", records=RECORDS, stepMs=5, chunk_size=CHUNK)
    await wait_for_records(job, 3 * CHUNK)

    stopping = await stop_job(operator, job.id)

    assert stopping.status is JobStatus.STOPPING
    job = await wait_for_status(job, JobStatus.STOPPED, timeout=30)
    assert 0 < job.done < RECORDS
    assert not await Chunk.filter(job_id=job.id, status=ChunkStatus.RUNNING).exists()
    # Each chunk's cursor is where its records end: the next record to run.
    for chunk in await Chunk.filter(job_id=job.id):
        positions = await Record.filter(chunk_id=chunk.id).values_list("position", flat=True)
        assert sorted(positions) == list(range(chunk.range_start, chunk.cursor))
    at_stop = await record_count(job)
    assert at_stop == job.done
    await a_later_job_finishes(acme)
    assert await record_count(job) == at_stop
    assert (await reload(job)).status is JobStatus.STOPPED

    resumed = await resume_job(operator, job.id)

    assert resumed.status is JobStatus.PENDING
    job = await wait_for_status(job, *TERMINAL, timeout=60)
    assert job.status is JobStatus.FINISHED and job.outcome is JobOutcome.SUCCEEDED
    assert (job.done, job.succeeded, job.total) == (RECORDS, RECORDS, RECORDS)
    rows = await Record.filter(job_id=job.id).values_list("position", "status")
    assert sorted(position for position, _ in rows) == list(range(RECORDS))
    assert {status for _, status in rows} == {RecordStatus.SUCCEEDED}
    executions = await redis.hgetall(executions_key(job.id))
    assert len(executions) == RECORDS
    assert {int(count) for count in executions.values()} == {1}, "a record ran twice"
    assert await statuses_over_time(job) == [
        JobStatus.PENDING,
        JobStatus.RUNNING,
        JobStatus.STOPPING,
        JobStatus.STOPPED,
        JobStatus.PENDING,
        JobStatus.RUNNING,
        JobStatus.FINISHED,
    ]


async def test_cancel_while_running_discards_the_rest(cluster: Cluster, acme: TenantFixture):
    start_workers(cluster)
    job = await start(acme, "test.counted", records=RECORDS, stepMs=5, chunk_size=CHUNK)
    await wait_for_records(job, 3 * CHUNK)

    canceling = await cancel_job(acme.actor(Role.OPERATOR), job.id)

    assert canceling.status is JobStatus.CANCELING
    job = await wait_for_status(job, JobStatus.CANCELED, timeout=30)
    assert job.ended_at is not None and job.outcome is None
    assert (await statuses_over_time(job))[-2:] == [JobStatus.CANCELING, JobStatus.CANCELED]
    chunks = await Chunk.filter(job_id=job.id).values_list("status", "done")
    assert {status for status, _ in chunks} <= {ChunkStatus.COMPLETED, ChunkStatus.CANCELED}
    assert sum(1 for status, _ in chunks if status is ChunkStatus.CANCELED) >= len(chunks) // 2
    records = await Record.filter(job_id=job.id).values_list("status", "ended_at")
    # Every record has its one outcome: what ran succeeded, the rest never ran and is CANCELED.
    assert len(records) == RECORDS
    ran = sum(1 for status, _ in records if status is RecordStatus.SUCCEEDED)
    assert 0 < ran < RECORDS
    assert {status for status, _ in records} == {RecordStatus.SUCCEEDED, RecordStatus.CANCELED}
    assert all(ended_at <= job.ended_at for _, ended_at in records)
    assert (job.succeeded, job.canceled, job.done) == (ran, RECORDS - ran, RECORDS)
    await a_later_job_finishes(acme)
    assert await record_count(job) == RECORDS
    with pytest.raises(InvalidTransition) as refused:
        await resume_job(acme.actor(Role.OPERATOR), job.id)
    assert refused.value.code == "INVALID_TRANSITION"


async def test_force_stop_interrupts_slow_steps_at_once_and_warns(cluster: Cluster, acme: TenantFixture):
    step = timedelta(seconds=2)
    start_workers(cluster, concurrency=4)
    operator = acme.actor(Role.OPERATOR)
    job = await start(acme, "test.plain", records=6, stepMs=step.total_seconds() * 1000, chunk_size=3)
    chunks = await wait_until(lambda: Chunk.filter(job_id=job.id), timeout=30, what="the chunks")

    async def second_records_in_flight() -> bool:
        # A chunk writes its first outcome and goes straight on to its next record.
        return all([await Record.exists(chunk_id=chunk.id) for chunk in chunks])

    await wait_until(second_records_in_flight, timeout=30, what="both chunks to be past their first record")
    stopping = await stop_job(operator, job.id)
    assert stopping.status is JobStatus.STOPPING
    # The records in flight take seconds; a plain stop waits for them.
    assert (await reload(job)).status is JobStatus.STOPPING

    stopped = await force_stop_job(operator, job.id)

    assert stopped.status is JobStatus.STOPPED and stopped.ended_at is not None

    async def let_go() -> bool:
        return not await Chunk.filter(job_id=job.id).exclude(lease_owner=None).exists()

    await wait_until(let_go, timeout=30, what="the worker to let go of the chunks")
    job = await reload(job)
    assert job.status is JobStatus.STOPPED
    assert set(await Chunk.filter(job_id=job.id).values_list("status", flat=True)) == {ChunkStatus.STOPPED}
    records = await Record.filter(job_id=job.id)
    cut = [record for record in records if record.status is RecordStatus.INTERRUPTED]
    assert cut, "the records in flight should have been interrupted"
    assert {record.status for record in records} == {RecordStatus.SUCCEEDED, RecordStatus.INTERRUPTED}
    assert len(records) <= 4  # one done and at most one in flight per chunk
    for record in cut:
        # Cut off in the middle of the step, not run to its end.
        assert record.ended_at - record.started_at < step
        [work] = decode(record.journey, job.step_names, record.started_at)
        assert work.status is StepStatus.INTERRUPTED
    warnings = await JobLog.filter(job_id=job.id, level="WARNING").values_list("message", flat=True)
    assert any("data may be inconsistent" in message for message in warnings)
    await a_later_job_finishes(acme)
    assert await record_count(job) == len(records)
    assert (await reload(job)).status is JobStatus.STOPPED


async def test_a_non_stoppable_job_asked_to_stop_works_to_the_end(cluster: Cluster, acme: TenantFixture):
    records = 30
    start_workers(cluster)
    job = await start(acme, "test.non_stoppable", records=records, stepMs=100, chunk_size=5)
    await wait_for_records(job, 3)

    stopping = await stop_job(acme.actor(Role.OPERATOR), job.id)

    assert stopping.status is JobStatus.STOPPING
    at_request = await record_count(job)
    worked_while_stopping = False

    async def ended() -> Job | None:
        nonlocal worked_while_stopping
        current = await reload(job)
        if current.status is JobStatus.STOPPING:
            worked_while_stopping |= await record_count(job) > at_request
        else:
            assert current.status is JobStatus.FINISHED, current.status
        return current if current.status in TERMINAL else None

    job = await wait_until(ended, timeout=60, what="the non-stoppable job to end")
    assert worked_while_stopping, "it should have kept working while STOPPING"
    assert job.outcome is JobOutcome.SUCCEEDED and (job.done, job.total) == (records, records)
    assert set(await Record.filter(job_id=job.id).values_list("status", flat=True)) == {RecordStatus.SUCCEEDED}
    assert set(await Chunk.filter(job_id=job.id).values_list("status", flat=True)) == {ChunkStatus.COMPLETED}
    assert (await statuses_over_time(job))[-3:] == [JobStatus.RUNNING, JobStatus.STOPPING, JobStatus.FINISHED]


async def test_stopping_a_job_that_waits_for_answers_stops_it_at_once(cluster: Cluster, acme: TenantFixture):
    start_workers(cluster)
    operator = acme.actor(Role.OPERATOR)
    job = await start(acme, "test.approval", records=4, chunk_size=2)
    await wait_for_status(job, JobStatus.WAITING, timeout=30)

    await stop_job(operator, job.id)

    # Nothing is in flight: every record waits for a human.
    job = await wait_for_status(job, JobStatus.STOPPED, timeout=10)
    waiting = await Record.filter(job_id=job.id).order_by("position")
    assert {record.status for record in waiting} == {RecordStatus.WAITING}

    await resume_job(operator, job.id)
    for record in waiting:
        await complete_wait(operator, record.id, {"by": "ann"})

    job = await wait_for_status(job, *TERMINAL, timeout=30)
    assert job.status is JobStatus.FINISHED and job.outcome is JobOutcome.SUCCEEDED
    assert job.done == 4
