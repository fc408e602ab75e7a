"""Records that wait for a human answer, on real workers: WAITING, completeWait, and the journey after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from domain.clock import utcnow
from domain.errors import InvalidTransition
from domain.jobs import complete_wait
from domain.journey import StepRun, decode
from domain.models import Chunk, Job, JobEvent, Record
from domain.open_records import WaitingRecords, waiting_records
from domain.statuses import TERMINAL, ChunkStatus, JobOutcome, JobStatus, RecordStatus, StepStatus
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.workers.support import discard_open_jobs, reload, start, wait_for_status

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)

RECORDS = 6


@pytest.fixture(autouse=True)
async def only_this_tests_work(cluster: Cluster) -> AsyncIterator[None]:
    await discard_open_jobs()
    yield
    await discard_open_jobs()


def journey_of(job: Job, record: Record) -> list[StepRun]:
    return decode(record.journey, job.step_names, record.started_at)


async def records_of(job: Job) -> list[Record]:
    return await Record.filter(job_id=job.id).order_by("position")


async def wait_for_record(record: Record, status: RecordStatus) -> Record:
    async def reached() -> Record | None:
        current = await Record.get(id=record.id)
        return current if current.status is status else None

    return await wait_until(reached, timeout=30, what=f"record {record.key} to be {status}")


async def test_approved_records_continue_and_the_job_finishes(cluster: Cluster, acme: TenantFixture):
    # One chunk at a time, so the chunks reach their waits one after another.
    cluster.start_worker(worker_concurrency=1)
    cluster.start_dispatcher()
    job = await start(acme, "test.approval", records=RECORDS, stepMs=100, chunk_size=2)

    job = await wait_for_status(job, JobStatus.WAITING, timeout=30)

    waiting = await records_of(job)
    assert [record.status for record in waiting] == [RecordStatus.WAITING] * RECORDS
    for record in waiting:
        steps = journey_of(job, record)
        assert [(step.name, step.status) for step in steps] == [
            ("prepare", StepStatus.SUCCEEDED),
            ("approve", StepStatus.WAITING),
        ]
        assert record.ended_at is None
        # When it began to wait is kept: the moment its approve step asked.
        asked = steps[1].started_at
        assert asked <= record.waiting_since <= asked + timedelta(seconds=1)
    assert (job.done, job.total) == (0, RECORDS)
    assert (await waiting_records([job.id]))[job.id] == WaitingRecords(
        RECORDS, min(record.waiting_since for record in waiting)
    )
    # The job waited only once the last record did, not when the first chunk parked.
    went_waiting = await JobEvent.filter(job_id=job.id, to_status=JobStatus.WAITING).order_by("seq").first()
    last_wait_began = max(journey_of(job, record)[1].started_at for record in waiting)
    assert went_waiting.at >= last_wait_began

    first, *others = waiting
    answered = await complete_wait(acme.actor(), first.id, {"by": "ann"})
    assert answered.status is RecordStatus.PENDING
    assert (await reload(job)).status is JobStatus.RUNNING
    # A second answer to the same record is refused: it no longer waits.
    with pytest.raises(InvalidTransition) as refused:
        await complete_wait(acme.actor(), first.id, {"by": "bob"})
    assert refused.value.code == "INVALID_TRANSITION"

    first = await wait_for_record(first, RecordStatus.SUCCEEDED)
    # The others still wait, so the job is back to WAITING.
    job = await wait_for_status(job, JobStatus.WAITING, timeout=30)
    assert (job.done, job.succeeded) == (1, 1)
    with pytest.raises(InvalidTransition):
        await complete_wait(acme.actor(), first.id, {"by": "bob"})
    unchanged = await Record.get(id=first.id)
    assert (unchanged.status, unchanged.wait_payload, unchanged.journey) == (
        RecordStatus.SUCCEEDED,
        None,
        first.journey,
    )
    assert (await reload(job)).status is JobStatus.WAITING

    for number, record in enumerate(others):
        await complete_wait(acme.actor(), record.id, {"by": f"approver {number}"})
    job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=30)

    assert job.status is JobStatus.FINISHED and job.outcome is JobOutcome.SUCCEEDED
    assert (job.done, job.succeeded, job.failed, job.total) == (RECORDS, RECORDS, 0, RECORDS)
    assert job.ended_at is not None
    approvers = {first.id: "ann"} | {record.id: f"approver {n}" for n, record in enumerate(others)}
    for record in await records_of(job):
        assert record.status is RecordStatus.SUCCEEDED and record.ended_at is not None
        prepare, approve, send = steps = journey_of(job, record)
        assert [(step.name, step.status) for step in steps] == [
            ("prepare", StepStatus.SUCCEEDED),
            ("approve", StepStatus.SUCCEEDED),
            ("send", StepStatus.SUCCEEDED),
        ]
        assert approve.detail == {"approvedBy": approvers[record.id]}
        assert prepare.ended_at <= approve.started_at <= approve.ended_at <= send.started_at
        assert send.ended_at <= record.ended_at
    statuses = await Chunk.filter(job_id=job.id).values_list("status", flat=True)
    assert set(statuses) == {ChunkStatus.COMPLETED}



async def test_answers_that_arrive_while_their_chunk_runs_are_not_lost(cluster: Cluster, acme: TenantFixture):
    # One chunk; the first answer sends it back to a worker, the others arrive while it runs.
    cluster.start_worker()
    cluster.start_dispatcher()
    job = await start(acme, "test.approval", records=4, stepMs=1000, chunk_size=4)
    job = await wait_for_status(job, JobStatus.WAITING, timeout=30)
    first, *others = await records_of(job)

    await complete_wait(acme.actor(), first.id, {"by": "ann"})

    async def chunk_taken() -> bool:
        return await Chunk.filter(job_id=job.id, status=ChunkStatus.RUNNING).exclude(lease_owner=None).exists()

    await wait_until(chunk_taken, timeout=30, what="a worker to take the chunk again")
    for record in others:
        await complete_wait(acme.actor(), record.id, {"by": "bob"})

    job = await wait_for_status(job, *TERMINAL, timeout=30)
    assert job.status is JobStatus.FINISHED and job.outcome is JobOutcome.SUCCEEDED
    records = await records_of(job)
    assert [record.status for record in records] == [RecordStatus.SUCCEEDED] * 4
    assert [journey_of(job, record)[1].detail for record in records] == [{"approvedBy": "ann"}] + [
        {"approvedBy": "bob"}
    ] * 3


async def test_a_step_that_waited_shows_its_wait_and_who_answered(cluster: Cluster, acme: TenantFixture):
    cluster.start_worker()
    cluster.start_dispatcher()
    job = await start(acme, "test.approval", records=1)
    job = await wait_for_status(job, JobStatus.WAITING, timeout=30)
    [record] = await records_of(job)
    seen_waiting = utcnow()

    async def a_moment_passed() -> bool:
        return utcnow() - seen_waiting >= timedelta(milliseconds=200)

    await wait_until(a_moment_passed, timeout=5, what="the record to have waited a while")
    answered_at = utcnow()
    await complete_wait(acme.actor(name="ann of support"), record.id, {"by": "ann"})
    record = await wait_for_record(record, RecordStatus.SUCCEEDED)

    prepare, approve, send = journey_of(job, record)
    assert (approve.status, approve.answered_by, approve.detail) == (
        StepStatus.SUCCEEDED, "ann of support", {"approvedBy": "ann"}
    )
    assert (prepare.waited_seconds, send.waited_seconds) == (None, None)
    # The step asked before the record was seen waiting, and ran again only after the answer.
    assert approve.started_at <= seen_waiting
    assert approve.waited_seconds >= (answered_at - seen_waiting).total_seconds() >= 0.2
    assert approve.started_at + timedelta(seconds=approve.waited_seconds) >= answered_at - timedelta(milliseconds=10)
    # Its duration spans the wait, and the steps still follow one another.
    assert approve.duration_seconds >= approve.waited_seconds
    assert prepare.ended_at <= approve.started_at <= approve.ended_at <= send.started_at <= send.ended_at
