"""Batch steps on real workers: one call for many records, and still an outcome, an error and
a journey entry per record; only the records whose attempt failed are tried again.

``test.batched`` runs ``prepare`` per record, ``write`` in calls of up to 8 records (one retry),
then ``after`` per record, and notes the keys of every ``write`` call in Redis.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from domain.access import Role
from domain.jobs import complete_wait, force_stop_job, stop_job
from domain.journey import StepRun, decode
from domain.models import Chunk, Job, Record
from domain.statuses import ChunkStatus, JobOutcome, JobStatus, RecordStatus, StepStatus
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.job_types import BATCH_SIZE, batch_calls_key
from tests.workers.support import start, wait_for_status

pytestmark = pytest.mark.parametrize("database", ["postgres", "sqlite"], indirect=True)

S = RecordStatus


@pytest.fixture
def running(cluster: Cluster) -> Cluster:
    cluster.start_worker()
    cluster.start_dispatcher()
    return cluster


async def batch_calls(redis: Redis, job: Job) -> list[list[int]]:
    return [[int(key) for key in json.loads(call)] for call in await redis.lrange(batch_calls_key(job.id), 0, -1)]


async def records_by_number(job: Job) -> dict[int, Record]:
    return {int(record.key): record for record in await Record.filter(job_id=job.id)}


def steps_of(job: Job, record: Record) -> dict[str, StepRun]:
    return {step.name: step for step in decode(record.journey, job.step_names, record.started_at)}


async def test_a_batch_step_gives_each_record_of_its_call_its_own_outcome_error_and_entry(
    running: Cluster, acme: TenantFixture, redis: Redis
):
    # One chunk of 20 records: calls of 8, 8, and the 4 the chunk has left; the rejected
    # records are tried once more, alone.
    job = await start(acme, "test.batched", records=20, chunk_size=20, rejectEvery=7, skipEvery=5, stepMs=20)

    job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert await batch_calls(redis, job) == [list(range(0, 8)), [0, 7], list(range(8, 16)), [14], list(range(16, 20))]
    rejected, skipped = {0, 7, 14}, {5, 10, 15}
    records = await records_by_number(job)
    assert {number: record.status for number, record in records.items()} == {
        number: S.FAILED if number in rejected else S.SKIPPED if number in skipped else S.SUCCEEDED
        for number in range(20)
    }
    assert (job.outcome, job.done, job.succeeded, job.failed, job.skipped) == (JobOutcome.WITH_ERRORS, 20, 14, 3, 3)
    for number, record in records.items():
        steps = steps_of(job, record)
        write = steps["write"]
        # A record starts with its first step, not with the first record of its call.
        assert steps["prepare"].started_at - record.started_at < timedelta(milliseconds=5)
        if number in rejected:
            assert record.error == f"RecordRejected: record {number} rejected"
            assert (list(steps), write.status, write.error) == (["prepare", "write"], StepStatus.FAILED, record.error)
        elif number in skipped:
            assert (record.error, list(steps), write.status) == ("already written", ["prepare", "write"], StepStatus.SKIPPED)
        else:
            assert record.error is None
            assert [(name, step.status) for name, step in steps.items()] == [
                ("prepare", StepStatus.SUCCEEDED), ("write", StepStatus.SUCCEEDED), ("after", StepStatus.SUCCEEDED)
            ]
            assert write.detail == {"batch": 4 if number >= 16 else BATCH_SIZE, "attempt": 1}
            assert steps["prepare"].ended_at <= write.started_at <= write.ended_at <= steps["after"].started_at
    # The records of one call share its entry's times: the call's start and its duration.
    for call in (range(0, 8), range(8, 16), range(16, 20)):
        writes = [steps_of(job, records[number])["write"] for number in call if number not in rejected]
        assert max(w.started_at for w in writes) - min(w.started_at for w in writes) < timedelta(milliseconds=2)
        assert max(w.duration_seconds for w in writes) - min(w.duration_seconds for w in writes) < 0.002
        assert min(w.duration_seconds for w in writes) >= 0.02


async def test_a_retry_calls_the_batch_step_again_with_only_the_records_that_failed(
    running: Cluster, acme: TenantFixture, redis: Redis
):
    # Multiples of 3 fail their first attempt only; 0 and 10 fail every attempt.
    job = await start(acme, "test.batched", records=16, chunk_size=16, flakyEvery=3, rejectEvery=10, stepMs=50)

    job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert await batch_calls(redis, job) == [list(range(0, 8)), [0, 3, 6], list(range(8, 16)), [9, 10, 12, 15]]
    records = await records_by_number(job)
    flaky = {3, 6, 9, 12, 15}
    assert {number for number, record in records.items() if record.status is S.FAILED} == {0, 10}
    assert (job.done, job.succeeded, job.failed) == (16, 14, 2)
    for number in (0, 10):
        write = steps_of(job, records[number])["write"]
        assert (write.status, write.error) == (StepStatus.FAILED, f"RecordRejected: record {number} rejected")
    for number, record in records.items():
        write = steps_of(job, record)["write"]
        if number in flaky:
            assert write.detail == {"batch": 3 if number < 8 else 4, "attempt": 2}
        elif record.status is S.SUCCEEDED:
            assert write.detail == {"batch": BATCH_SIZE, "attempt": 1}
    # A retried record's entry spans the first call and the retry that passed.
    for first_call in (range(0, 8), range(8, 16)):
        writes = {number: steps_of(job, records[number])["write"] for number in first_call}
        once = [write for number, write in writes.items() if number not in flaky and number not in (0, 10)]
        twice = [write for number, write in writes.items() if number in flaky]
        assert len({write.started_at for write in writes.values()}) == 1  # one call started them all
        assert min(w.ended_at for w in twice) - max(w.ended_at for w in once) >= timedelta(milliseconds=50)


async def test_a_record_of_a_batch_step_waits_for_its_answer_alone(
    running: Cluster, acme: TenantFixture, redis: Redis
):
    job = await start(acme, "test.batched", records=8, chunk_size=8, waitEvery=4)

    job = await wait_for_status(job, JobStatus.WAITING, timeout=60)

    records = await records_by_number(job)
    assert {number for number, record in records.items() if record.status is S.WAITING} == {0, 4}
    assert steps_of(job, records[4])["write"].status is StepStatus.WAITING
    operator = acme.actor(Role.OPERATOR)
    await complete_wait(operator, records[4].id, {"by": "ann"})
    answered = await wait_until(
        lambda: Record.filter(id=records[4].id, status=S.SUCCEEDED).first(), timeout=30, what="record 4 to succeed"
    )
    await complete_wait(operator, records[0].id, {"by": "bob"})
    job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert (job.outcome, job.succeeded) == (JobOutcome.SUCCEEDED, 8)
    # Each answered record ran the batch step again in a call of its own.
    assert await batch_calls(redis, job) == [list(range(8)), [4], [0]]
    write = steps_of(job, answered)["write"]
    assert (write.status, write.answered_by, write.detail) == (
        StepStatus.SUCCEEDED, operator.name, {"batch": 1, "attempt": 1, "approvedBy": "ann"}
    )
    assert write.waited_seconds is not None and write.waited_seconds > 0
    assert steps_of(job, answered)["after"].status is StepStatus.SUCCEEDED


async def test_a_force_stop_interrupts_the_records_of_the_call_in_flight_and_no_others(
    running: Cluster, acme: TenantFixture, redis: Redis
):
    call = timedelta(seconds=20)
    job = await start(acme, "test.batched", records=16, chunk_size=16, batchMs=call.total_seconds() * 1000)
    await wait_until(lambda: redis.llen(batch_calls_key(job.id)), timeout=30, what="the first call")

    operator = acme.actor(Role.OPERATOR)
    # A plain stop lets the call end; only a force stop cuts it off.
    assert (await stop_job(operator, job.id)).status is JobStatus.STOPPING
    await force_stop_job(operator, job.id)

    async def let_go() -> bool:
        return not await Chunk.filter(job_id=job.id).exclude(lease_owner=None).exists()

    await wait_until(let_go, timeout=30, what="the worker to let go of the chunk")
    records = await records_by_number(job)
    # The call's 8 records were cut off in it; the next 8 had not begun and are left to run.
    assert set(records) == set(range(8))
    for record in records.values():
        assert record.status is S.INTERRUPTED
        assert record.ended_at - record.started_at < call
        steps = steps_of(job, record)
        assert [(name, step.status) for name, step in steps.items()] == [
            ("prepare", StepStatus.SUCCEEDED), ("write", StepStatus.INTERRUPTED)
        ]
    chunk = await Chunk.get(job_id=job.id)
    assert (chunk.status, chunk.cursor) == (ChunkStatus.STOPPED, 8)
    assert await batch_calls(redis, job) == [list(range(8))]
