"""Chunks and records have a lifecycle as explicit as the job's: one table each, and what a job's
verbs do to its chunks and records keeps the three consistent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from domain import chunks, execution, jobs
from domain.errors import InvalidTransition
from domain.models import Chunk, Job, Record
from domain.progress import WaitingReason, job_progress, waiting_reason
from domain.statuses import (
    CHUNK_TRANSITIONS,
    RECORD_TRANSITIONS,
    ChunkOperation,
    ChunkStatus,
    JobStatus,
    RecordStatus,
    check_chunk_transition,
    check_record_transition,
)
from tests.domain.scenarios import add_chunk, chunk_statuses, put_in, record_statuses, start

S = JobStatus
C = ChunkStatus
R = RecordStatus
CO = ChunkOperation


@pytest.mark.parametrize("status", list(ChunkStatus))
@pytest.mark.parametrize("operation", list(ChunkOperation))
def test_every_chunk_operation_from_every_status_follows_the_table(operation, status):
    if (operation, status) in CHUNK_TRANSITIONS:
        assert check_chunk_transition(status, operation) is CHUNK_TRANSITIONS[(operation, status)]
    else:
        with pytest.raises(InvalidTransition):
            check_chunk_transition(status, operation)


def test_ended_chunks_never_move_again():
    for ended in (C.COMPLETED, C.INCOMPLETE, C.FAILED, C.CANCELED):
        assert not [operation for (operation, status) in CHUNK_TRANSITIONS if status is ended]


def test_a_record_gets_one_outcome_and_only_an_open_record_is_canceled():
    for outcome in (R.SUCCEEDED, R.FAILED, R.SKIPPED, R.INTERRUPTED, R.CANCELED):
        assert not [target for (source, target) in RECORD_TRANSITIONS if source is outcome]
    assert check_record_transition(R.WAITING, R.CANCELED) is R.CANCELED
    with pytest.raises(InvalidTransition):
        check_record_transition(R.SUCCEEDED, R.FAILED)


async def test_a_claimed_chunk_starts_only_for_its_own_worker_and_a_stop_in_between_wins(acme):
    job = await put_in(await start(acme.actor()), S.RUNNING)
    chunk = await add_chunk(job, 0, C.PENDING, [R.PENDING])
    lease = timedelta(seconds=30)

    assert await chunks.claim(chunk.id, "worker-1", lease)
    assert not await chunks.claim(chunk.id, "worker-2", lease), "one slot at a time"
    assert not await chunks.start(chunk.id, "worker-2")
    await put_in(job, S.STOPPED)
    await chunks.stop_idle(job.id)

    assert not await chunks.start(chunk.id, "worker-1"), "the stop came first"
    await chunk.refresh_from_db()
    assert (chunk.status, chunk.lease_owner) == (C.STOPPED, None)


async def test_stopping_a_waiting_job_stops_its_parked_chunks_too(acme):
    operator = acme.actor()
    job = await put_in(await start(operator, "test.approval"), S.WAITING, enumerated=True)
    await add_chunk(job, 0, C.WAITING, [R.SUCCEEDED, R.WAITING])
    await add_chunk(job, 1, C.WAITING, [R.WAITING, R.WAITING])

    assert (await jobs.stop_job(operator, job.id)).status is S.STOPPING
    await execution.settle_idle_wind_downs()

    assert (await Job.get(id=job.id)).status is S.STOPPED
    assert await chunk_statuses(job) == [C.STOPPED, C.STOPPED]


async def test_canceling_makes_every_record_that_never_ran_a_counted_canceled_row(acme):
    operator = acme.actor()
    job = await put_in(await start(operator), S.STOPPED, enumerated=True, total=5)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED, R.FAILED])
    stopped = await add_chunk(job, 1, C.STOPPED, [R.SKIPPED, R.WAITING])
    # One more record of the stopped chunk never ran: it has no row yet.
    await Chunk.filter(id=stopped.id).update(range_end=stopped.range_end + 1, keys=["r100", "r101", "r102"])

    canceled = await jobs.cancel_job(operator, job.id)

    assert canceled.status is S.CANCELED
    assert await chunk_statuses(job) == [C.COMPLETED, C.CANCELED]
    assert await record_statuses(job) == [R.SUCCEEDED, R.FAILED, R.SKIPPED, R.CANCELED, R.CANCELED]
    figures = job_progress(await Job.get(id=job.id))
    assert (figures.done, figures.counts.canceled, figures.counts.failed, figures.percent) == (5, 2, 1, 100.0)
    chunk = await Chunk.get(id=stopped.id)
    assert (chunk.done, chunk.canceled) == (3, 2)
    assert await Record.filter(job_id=job.id).count() == 5


async def test_a_stopping_job_is_not_said_to_wait_because_it_is_stopped(acme):
    job = await put_in(await start(acme.actor()), S.STOPPING)
    assert waiting_reason(job, workers_online=1, busy_roots=0) is None
    job = await put_in(job, S.STOPPED)
    assert waiting_reason(job, workers_online=1, busy_roots=0) is WaitingReason.STOPPED


def test_the_lifecycle_guide_names_every_status_and_chunk_operation():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md").read_text()
    for names in (JobStatus, ChunkStatus, RecordStatus, ChunkOperation):
        missing = [name.value for name in names if f"`{name.value}`" not in guide]
        assert not missing, f"docs/lifecycle.md does not explain {missing}"


@pytest.mark.parametrize("verb", ["stop_job", "cancel_job"])
async def test_chunks_enumerated_after_their_job_stopped_or_was_canceled_follow_it(acme, verb):
    operator = acme.actor()
    job = await start(operator, params={"records": 4}, chunk_size=2)
    job = await execution.begin_enumeration(job.id, timedelta(seconds=30))
    ended = await getattr(jobs, verb)(operator, job.id)  # while the worker still enumerates

    await execution.add_chunks(job, 0, 0, ["a", "b", "c", "d"])
    await execution.end_enumeration(job.id, 4)

    job = await Job.get(id=job.id)
    if ended.status is S.STOPPED:
        assert (job.status, await chunk_statuses(job)) == (S.STOPPED, [C.STOPPED, C.STOPPED])
    else:
        assert (job.status, await chunk_statuses(job)) == (S.CANCELED, [C.CANCELED, C.CANCELED])
        assert await record_statuses(job) == [R.CANCELED] * 4 and job.done == job.total == 4
