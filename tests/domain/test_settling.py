"""Jobs move on when nothing would otherwise move them: found by the e2e tests, pinned down here.

Each case is one a worker run can reach only by timing (tests/workers covers
the runs); here the rows are laid out by hand so the case happens every time.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import execution, jobs
from domain.access import Role
from domain.models import Chunk, Job, Record
from domain.statuses import ChunkOperation, ChunkStatus, JobOutcome, JobStatus, RecordStatus
from tests.domain.scenarios import add_chunk, events_of, put_in, start

S = JobStatus
C = ChunkStatus
R = RecordStatus


async def enumerated(job: Job) -> Job:
    await Job.filter(id=job.id).update(enumerated=True)
    await job.refresh_from_db()
    return job


async def test_enumerating_leaves_a_job_pending_until_its_first_chunk_starts(acme):
    job = await start(acme.actor())

    begun = await execution.begin_enumeration(job.id, timedelta(seconds=30))

    assert begun is not None and begun.status is S.PENDING and begun.started_at is None


async def test_a_job_without_records_starts_and_finishes_when_enumerated(acme):
    job = await start(acme.actor(), params={"records": 0})
    await execution.begin_enumeration(job.id, timedelta(seconds=30))

    await execution.end_enumeration(job.id, 0)

    job = await Job.get(id=job.id)
    assert (job.status, job.outcome, job.total) == (S.FINISHED, JobOutcome.SUCCEEDED, 0)
    assert job.started_at is not None and job.ended_at >= job.started_at


async def test_resuming_a_job_whose_records_were_all_done_finishes_it(acme):
    # A stop that came during the last chunk: every record done, yet STOPPED.
    operator = acme.actor(Role.OPERATOR)
    job = await enumerated(await put_in(await start(operator), S.STOPPED))
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED, R.SUCCEEDED])

    resumed = await jobs.resume_job(operator, job.id)

    assert (resumed.status, resumed.outcome) == (S.FINISHED, JobOutcome.SUCCEEDED)
    assert [event.to_status for event in await events_of(job)][-3:] == [S.PENDING, S.RUNNING, S.FINISHED]


async def test_a_resumed_parent_with_only_children_left_runs_and_finishes_with_them(acme):
    operator = acme.actor(Role.OPERATOR)
    parent = await enumerated(await put_in(await start(operator), S.STOPPED))
    await add_chunk(parent, 0, C.COMPLETED, [R.SUCCEEDED])
    child = await start(operator, parent_id=parent.id)
    await put_in(child, S.STOPPED)

    resumed = await jobs.resume_job(operator, parent.id)

    assert resumed.status is S.RUNNING
    assert (await Job.get(id=child.id)).status is S.PENDING
    await put_in(child, S.FINISHED, outcome=JobOutcome.SUCCEEDED)
    await execution.settle_job(parent.id)
    assert (await Job.get(id=parent.id)).status is S.FINISHED


async def test_a_resumed_job_with_waiting_records_stays_pending_until_they_are_answered(acme):
    operator = acme.actor(Role.OPERATOR)
    job = await enumerated(await put_in(await start(operator, "test.approval"), S.STOPPED))
    await add_chunk(job, 0, C.WAITING, [R.SUCCEEDED, R.WAITING])  # parked: no lease

    resumed = await jobs.resume_job(operator, job.id)

    assert resumed.status is S.PENDING


async def test_a_child_started_while_its_parent_stops_is_stopped_and_resumed_with_it(acme):
    operator = acme.actor(Role.OPERATOR)
    parent = await put_in(await start(operator), S.STOPPING)

    child = await start(operator, parent_id=parent.id)

    assert child.status is S.STOPPED
    await put_in(parent, S.STOPPED)
    await jobs.resume_job(operator, parent.id)
    assert (await Job.get(id=child.id)).status is S.PENDING


async def test_a_child_started_while_its_parent_cancels_is_canceled(acme):
    operator = acme.actor(Role.OPERATOR)
    parent = await put_in(await start(operator), S.CANCELING)

    child = await start(operator, parent_id=parent.id)

    assert child.status is S.CANCELED


@pytest.mark.parametrize("wind_down, settled", [(S.STOPPING, S.STOPPED), (S.CANCELING, S.CANCELED)])
async def test_a_parent_winding_down_settles_only_after_its_children_followed(acme, wind_down, settled):
    # The cascade reaches children one by one; a worker releasing the parent's last chunk
    # meanwhile must not end the parent before a child it has not reached yet.
    operator = acme.actor(Role.OPERATOR)
    parent = await enumerated(await start(operator))
    await add_chunk(parent, 0, C.COMPLETED, [R.SUCCEEDED])
    child = await start(operator, parent_id=parent.id)  # PENDING: the cascade has not reached it
    await put_in(parent, wind_down)

    await execution.settle_job(parent.id)
    assert (await Job.get(id=parent.id)).status is wind_down

    await execution.settle_idle_wind_downs()  # the system's round makes the child follow, then the parent
    child = await Job.get(id=child.id)
    parent = await Job.get(id=parent.id)
    assert (child.status, parent.status) == (settled, settled)
    assert child.ended_at <= parent.ended_at


async def test_a_job_whose_enumeration_fails_fails_and_does_not_stay_pending(acme):
    job = await start(acme.actor())
    await execution.begin_enumeration(job.id, timedelta(seconds=30))

    await execution.enumeration_failed(job.id, "ValueError: the source is gone")

    failed = await Job.get(id=job.id)
    assert (failed.status, failed.error) == (S.FAILED, "enumeration failed: ValueError: the source is gone")
    assert failed.ended_at is not None


async def test_a_child_of_a_running_parent_is_left_pending(acme):
    operator = acme.actor(Role.OPERATOR)
    parent = await put_in(await start(operator), S.RUNNING)

    child = await start(operator, parent_id=parent.id)

    assert child.status is S.PENDING


async def test_a_stop_that_finds_nothing_in_flight_settles_on_the_next_round(acme):
    operator = acme.actor(Role.OPERATOR)
    job = await enumerated(await put_in(await start(operator, "test.approval"), S.WAITING))
    await add_chunk(job, 0, C.WAITING, [R.WAITING, R.WAITING])  # parked: every record waits
    busy = await enumerated(await put_in(await start(operator), S.RUNNING))
    await add_chunk(busy, 0, C.RUNNING, [R.PENDING], lease_owner="worker-1")
    assert (await jobs.stop_job(operator, job.id)).status is S.STOPPING
    assert (await jobs.stop_job(operator, busy.id)).status is S.STOPPING

    await execution.settle_idle_wind_downs()

    assert (await Job.get(id=job.id)).status is S.STOPPED
    # A job with a chunk still held waits for its worker to let go.
    assert (await Job.get(id=busy.id)).status is S.STOPPING


async def test_a_cancel_that_finds_nothing_in_flight_discards_the_waiting_records(acme):
    operator = acme.actor(Role.OPERATOR)
    job = await enumerated(await put_in(await start(operator, "test.approval"), S.WAITING))
    await add_chunk(job, 0, C.WAITING, [R.SUCCEEDED, R.WAITING])
    assert (await jobs.cancel_job(operator, job.id)).status is S.CANCELING

    await execution.settle_idle_wind_downs()

    assert (await Job.get(id=job.id)).status is S.CANCELED
    assert await Chunk.filter(job_id=job.id).values_list("status", flat=True) == [C.CANCELED]
    statuses = await Record.filter(job_id=job.id).order_by("position").values_list("status", flat=True)
    assert statuses == [R.SUCCEEDED, R.CANCELED]


async def test_a_chunk_answered_while_its_worker_releases_it_runs_again_instead_of_parking(acme):
    operator = acme.actor(Role.OPERATOR)
    job = await enumerated(await put_in(await start(operator, "test.approval"), S.RUNNING))
    # The runner saw only waiting records; an answer came in before it let go.
    chunk = await add_chunk(job, 0, C.RUNNING, [R.WAITING, R.PENDING], lease_owner="worker-1")

    assert await execution.release_chunk(chunk.id, "worker-1", ChunkOperation.PARK)

    await chunk.refresh_from_db()
    assert (chunk.status, chunk.lease_owner) == (C.PENDING, None)
    assert (await Job.get(id=job.id)).status is S.RUNNING
