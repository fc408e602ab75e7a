"""The job state machine as docs/lifecycle.md states it: every (status, operation) pair, and what each move does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import execution, jobs
from domain.access import Role
from domain.clock import utcnow
from domain.errors import (
    Forbidden,
    InvalidTransition,
    JobNotRestartable,
    JobNotStoppable,
    PlanLimitExceeded,
)
from domain.models import Chunk, Job, JobLog, Record
from domain.counts import Counts
from domain.progress import Progress, job_progress
from domain.statuses import ChunkStatus, EventKind, JobOutcome, JobStatus, RecordStatus
from tests.domain.expectations import ENDED, MARKS, MOVES, SPAWNS
from tests.domain.scenarios import (
    OPERATIONS,
    VERBS,
    WORKER_EVENTS,
    add_chunk,
    chunk_statuses,
    event_name,
    events_of,
    jobs_used,
    put_in,
    record_statuses,
    snapshot,
    start,
)

S = JobStatus
C = ChunkStatus
R = RecordStatus

# The operations that keep the status, and the event each records.
MARK_EVENTS = {"hide": EventKind.HIDDEN, "set_low_priority": EventKind.PRIORITY_CHANGED}


async def job_with_everything(actor, type: str = "test.plain") -> Job:
    """A job whose chunks and records hold every state an effect could touch."""
    job = await start(actor, type)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED, R.FAILED])
    await add_chunk(job, 1, C.RUNNING, [R.PENDING, R.WAITING], lease_owner="worker-1")
    await add_chunk(job, 2, C.PENDING, [R.PENDING])
    await add_chunk(job, 3, C.STOPPED, [R.SKIPPED, R.PENDING])
    return job


@pytest.mark.parametrize("status", list(JobStatus))
@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_every_operation_from_every_status(acme, operation, status):
    admin = acme.actor(Role.ADMIN)
    job = await put_in(await job_with_everything(admin), status)
    before = await snapshot(job.id)

    if (operation, status) in MOVES:
        result = await OPERATIONS[operation](admin, job)

        target = MOVES[(operation, status)]
        assert result.status is target
        after = await snapshot(job.id)
        assert (after.status, after.seq) == (target, before.seq + 1)
        new_event = (await events_of(job))[-1]
        assert (new_event.seq, new_event.kind, new_event.from_status, new_event.to_status) == (
            before.seq + 1,
            EventKind.STATUS_CHANGED,
            status,
            target,
        )
        assert event_name(new_event) == operation
        assert len(after.events) == len(before.events) + 1

    elif operation in MARK_EVENTS and status in MARKS[operation]:
        result = await OPERATIONS[operation](admin, job)

        assert result.status is status
        after = await snapshot(job.id)
        assert (after.status, after.seq) == (status, before.seq + 1)
        new_event = (await events_of(job))[-1]
        assert (new_event.seq, new_event.kind, new_event.from_status, new_event.to_status) == (
            before.seq + 1,
            MARK_EVENTS[operation],
            status,
            status,
        )
        assert (after.chunks, after.records) == (before.chunks, before.records)

    elif (operation, status) in SPAWNS:
        new = await OPERATIONS[operation](admin, job)

        assert new.id != job.id
        assert (new.status, new.seq, new.restarted_from_id) == (S.PENDING, 1, job.id)
        assert new.retry_failed is (operation == "retry_failed_records")
        assert [(e.seq, e.kind, e.to_status) for e in await events_of(new)] == [
            (1, EventKind.CREATED, S.PENDING)
        ]
        after = await snapshot(job.id)
        assert after.tenant_jobs == (*before.tenant_jobs, new.id)
        assert (after.job, after.events, after.chunks, after.records) == (
            before.job,
            before.events,
            before.chunks,
            before.records,
        )

    elif operation in WORKER_EVENTS:
        assert await OPERATIONS[operation](admin, job) is None
        assert await snapshot(job.id) == before

    else:
        with pytest.raises(InvalidTransition) as refused:
            await OPERATIONS[operation](admin, job)

        assert refused.value.code == "INVALID_TRANSITION"
        assert await snapshot(job.id) == before


# ---------------------------------------------------------------- flags of the job type


STOPPING_OPERATIONS = ["stop", "force_stop", "cancel", "mark_drained", "finish_job", "fail_job"]


def expected_for(job_type: str, operation: str, status: JobStatus) -> tuple[JobStatus | None, tuple]:
    """What the lifecycle says a non-stoppable type does: the status it moves to, or the errors refusing it."""
    stops_work = operation in ("stop", "force_stop") or (
        operation == "cancel" and status not in (S.PENDING, S.STOPPED)
    )
    if job_type == "test.system" and stops_work:
        if (operation, status) in MOVES:
            return None, (JobNotStoppable,)
        return None, (JobNotStoppable, InvalidTransition)  # refused twice over; either says so
    if operation == "mark_drained" and status is S.STOPPING:
        return None, ()  # asked to stop, it keeps working until it finishes or fails
    target = MOVES.get((operation, status))
    return target, () if target is not None else (InvalidTransition,)


@pytest.mark.parametrize("status", list(JobStatus))
@pytest.mark.parametrize("operation", STOPPING_OPERATIONS)
@pytest.mark.parametrize("job_type", ["test.non_stoppable", "test.system"])
async def test_a_type_that_cannot_be_stopped_from_every_status(acme, job_type, operation, status):
    admin = acme.actor(Role.ADMIN)
    job = await put_in(await job_with_everything(admin, job_type), status)
    before = await snapshot(job.id)
    target, refusals = expected_for(job_type, operation, status)

    if target is not None:
        result = await OPERATIONS[operation](admin, job)

        assert result.status is target
        after = await snapshot(job.id)
        assert (after.status, after.seq) == (target, before.seq + 1)
    elif operation in WORKER_EVENTS:
        assert await OPERATIONS[operation](admin, job) is None
        assert await snapshot(job.id) == before
    else:
        with pytest.raises(refusals) as refused:
            await OPERATIONS[operation](admin, job)

        if refusals == (JobNotStoppable,):
            assert refused.value.code == "NOT_STOPPABLE"
        assert await snapshot(job.id) == before


async def test_a_pending_system_job_can_still_be_canceled_since_nothing_runs(acme):
    admin = acme.actor(Role.ADMIN)
    job = await start(admin, "test.system")

    assert (await jobs.cancel_job(admin, job.id)).status is S.CANCELED


@pytest.mark.parametrize("status", ENDED)
async def test_a_non_restartable_type_refuses_restart_with_not_restartable(acme, status):
    operator = acme.actor()
    job = await put_in(await job_with_everything(operator, "test.non_restartable"), status)
    before = await snapshot(job.id)

    with pytest.raises(JobNotRestartable) as refused:
        await jobs.restart_job(operator, job.id)

    assert refused.value.code == "NOT_RESTARTABLE"
    assert await snapshot(job.id) == before


async def test_a_non_stoppable_type_keeps_working_through_stopping_until_it_finishes(acme):
    operator = acme.actor()
    job = await put_in(await start(operator, "test.non_stoppable"), S.RUNNING)
    await add_chunk(job, 0, C.RUNNING, [R.SUCCEEDED, R.PENDING], lease_owner="worker-1")
    await add_chunk(job, 1, C.PENDING, [R.PENDING])

    assert (await jobs.stop_job(operator, job.id)).status is S.STOPPING
    # The worker finds nothing in flight between two chunks: the job must not stop there.
    assert await jobs.mark_drained(job.id) is None
    assert (await Job.get(id=job.id)).status is S.STOPPING
    assert await chunk_statuses(job) == [C.RUNNING, C.PENDING]

    await Chunk.filter(job_id=job.id).update(status=C.COMPLETED)
    finished = await jobs.finish_job(job.id)
    assert (finished.status, finished.outcome) == (S.FINISHED, JobOutcome.SUCCEEDED)


async def test_a_non_stoppable_type_that_fails_while_stopping_ends_failed(acme):
    operator = acme.actor()
    job = await put_in(await start(operator, "test.non_stoppable"), S.RUNNING)
    await jobs.stop_job(operator, job.id)

    failed = await jobs.fail_job(job.id, "the CRM rejected the batch")

    assert (failed.status, failed.error) == (S.FAILED, "the CRM rejected the batch")


# ---------------------------------------------------------------- effects on chunks and records


async def test_stopping_a_pending_job_stops_its_pending_chunks(acme):
    operator = acme.actor()
    job = await start(operator)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED])
    await add_chunk(job, 1, C.PENDING, [R.PENDING, R.PENDING])

    stopped = await jobs.stop_job(operator, job.id)

    assert stopped.status is S.STOPPED
    assert await chunk_statuses(job) == [C.COMPLETED, C.STOPPED]
    assert await record_statuses(job) == [R.SUCCEEDED, R.PENDING, R.PENDING]


async def test_draining_a_stopping_job_stops_its_pending_chunks(acme):
    operator = acme.actor()
    job = await put_in(await start(operator), S.RUNNING)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED])
    await add_chunk(job, 1, C.PENDING, [R.PENDING])
    await jobs.stop_job(operator, job.id)

    assert await chunk_statuses(job) == [C.COMPLETED, C.PENDING]  # still draining
    assert (await jobs.mark_drained(job.id)).status is S.STOPPED
    assert await chunk_statuses(job) == [C.COMPLETED, C.STOPPED]


async def test_resume_reopens_stopped_chunks_and_never_redoes_done_records(acme):
    operator = acme.actor()
    job = await start(operator)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED, R.FAILED])
    stopped_chunk = await add_chunk(job, 1, C.PENDING, [R.SUCCEEDED, R.PENDING])
    await jobs.stop_job(operator, job.id)

    resumed = await jobs.resume_job(operator, job.id)

    assert resumed.status is S.PENDING
    assert await chunk_statuses(job) == [C.COMPLETED, C.PENDING]
    assert await record_statuses(job) == [R.SUCCEEDED, R.FAILED, R.SUCCEEDED, R.PENDING]
    assert (await Chunk.get(id=stopped_chunk.id)).cursor == stopped_chunk.cursor


@pytest.mark.parametrize("status", [S.PENDING, S.STOPPED])
async def test_cancel_discards_the_open_records_and_chunks_of_a_job_that_is_not_running(acme, status):
    operator = acme.actor()
    job = await put_in(await start(operator), status)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED, R.FAILED])
    await add_chunk(job, 1, C.STOPPED, [R.SKIPPED, R.PENDING])
    await add_chunk(job, 2, C.PENDING, [R.PENDING, R.PENDING])

    canceled = await jobs.cancel_job(operator, job.id)

    assert canceled.status is S.CANCELED
    assert canceled.ended_at is not None
    assert await chunk_statuses(job) == [C.COMPLETED, C.CANCELED, C.CANCELED]
    assert await record_statuses(job) == [
        R.SUCCEEDED, R.FAILED, R.SKIPPED, R.CANCELED, R.CANCELED, R.CANCELED
    ]
    # Canceled is final: there is nothing to resume.
    with pytest.raises(InvalidTransition):
        await jobs.resume_job(operator, job.id)


async def test_canceling_a_running_job_lets_in_flight_work_drain_then_discards_the_rest(acme):
    operator = acme.actor()
    job = await put_in(await start(operator), S.RUNNING)
    running = await add_chunk(job, 0, C.RUNNING, [R.SUCCEEDED, R.PENDING], lease_owner="worker-1")
    await add_chunk(job, 1, C.PENDING, [R.PENDING])

    assert (await jobs.cancel_job(operator, job.id)).status is S.CANCELING
    assert await record_statuses(job) == [R.SUCCEEDED, R.PENDING, R.PENDING]

    await Record.filter(chunk_id=running.id, status=R.PENDING).update(status=R.SUCCEEDED)  # the worker's
    canceled = await jobs.mark_drained(job.id)

    assert (canceled.status, canceled.outcome) == (S.CANCELED, None)
    assert canceled.ended_at is not None
    assert await chunk_statuses(job) == [C.CANCELED, C.CANCELED]
    assert await record_statuses(job) == [R.SUCCEEDED, R.SUCCEEDED, R.CANCELED]


@pytest.mark.parametrize("event", ["finish_job", "fail_job"])
async def test_a_canceling_job_that_ends_any_other_way_still_discards_its_remaining_records(acme, event):
    operator = acme.actor()
    job = await put_in(await start(operator), S.RUNNING)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED])
    await add_chunk(job, 1, C.PENDING, [R.PENDING, R.PENDING])
    await jobs.cancel_job(operator, job.id)

    ended = await WORKER_EVENTS[event](operator, job)

    assert ended.status is S.CANCELED
    assert await chunk_statuses(job) == [C.COMPLETED, C.CANCELED]
    assert await record_statuses(job) == [R.SUCCEEDED, R.CANCELED, R.CANCELED]


async def test_force_stop_stops_every_chunk_at_once_and_warns_that_data_may_be_inconsistent(acme):
    operator = acme.actor()
    job = await put_in(await start(operator), S.RUNNING)
    await add_chunk(job, 0, C.RUNNING, [R.SUCCEEDED, R.PENDING, R.PENDING], lease_owner="worker-1")
    await add_chunk(job, 1, C.QUEUED, [R.PENDING], lease_owner="worker-2")
    await add_chunk(job, 2, C.WAITING, [R.WAITING])
    await add_chunk(job, 3, C.PENDING, [R.PENDING])
    await jobs.stop_job(operator, job.id)

    stopped = await jobs.force_stop_job(operator, job.id)

    assert stopped.status is S.STOPPED
    chunks = await Chunk.filter(job_id=job.id).order_by("index")
    # No chunk runs under a stopped job; the worker of the running one still writes
    # what it cut off (its records become INTERRUPTED then, and it says how many).
    assert [(c.status, c.lease_owner) for c in chunks] == [
        (C.STOPPED, "worker-1"), (C.STOPPED, None), (C.STOPPED, None), (C.STOPPED, None)
    ]
    warnings = await JobLog.filter(job_id=job.id, level="WARNING")
    assert len(warnings) == 1
    assert "data may be inconsistent" in warnings[0].message
    assert "interruptedRecords" not in warnings[0].fields_  # the workers count them, not the verb


@pytest.mark.parametrize(
    ("chunks", "outcome"),
    [
        ([(C.COMPLETED, [R.SUCCEEDED, R.SKIPPED]), (C.COMPLETED, [R.SUCCEEDED])], JobOutcome.SUCCEEDED),
        ([(C.COMPLETED, [R.SUCCEEDED, R.FAILED]), (C.COMPLETED, [R.SUCCEEDED])], JobOutcome.WITH_ERRORS),
        ([(C.COMPLETED, [R.SUCCEEDED]), (C.FAILED, [R.FAILED, R.PENDING])], JobOutcome.INCOMPLETE),
        ([(C.COMPLETED, [R.SUCCEEDED]), (C.STOPPED, [R.INTERRUPTED])], JobOutcome.INCOMPLETE),
    ],
    ids=["succeeded", "with-errors", "gave-up", "force-stopped"],
)
async def test_finish_computes_the_outcome(acme, chunks, outcome):
    operator = acme.actor()
    job = await put_in(await start(operator), S.RUNNING)
    for index, (chunk_status, records) in enumerate(chunks):
        await add_chunk(job, index, chunk_status, records)

    finished = await jobs.finish_job(job.id)

    assert (finished.status, finished.outcome) == (S.FINISHED, outcome)
    assert (await Job.get(id=job.id)).outcome is outcome


async def test_a_job_without_records_finishes_succeeded(acme):
    job = await put_in(await start(acme.actor(), params={"records": 0}), S.RUNNING)

    assert (await jobs.finish_job(job.id)).outcome is JobOutcome.SUCCEEDED


# ---------------------------------------------------------------- timing


async def test_started_at_is_set_by_the_first_chunk_and_ended_at_by_the_end(acme):
    operator = acme.actor()
    job = await start(operator)
    assert (job.started_at, job.ended_at) == (None, None)

    running = await jobs.mark_running(job.id)
    assert running.started_at is not None
    assert running.started_at >= job.created_at
    assert running.ended_at is None

    await jobs.mark_waiting(job.id)
    record_chunk = await add_chunk(job, 0, C.WAITING, [R.WAITING])
    waiting_record = await Record.get(chunk_id=record_chunk.id)
    await jobs.complete_wait(operator, waiting_record.id)
    back = await Job.get(id=job.id)
    assert back.status is S.RUNNING
    assert back.started_at == running.started_at  # waiting time does not grow again

    finished = await jobs.finish_job(job.id)
    assert finished.started_at == running.started_at
    assert finished.ended_at is not None
    assert finished.ended_at >= finished.started_at


@pytest.mark.parametrize("ending", ["fail_job", "cancel"])
async def test_every_end_sets_ended_at(acme, ending):
    operator = acme.actor()
    job = await jobs.mark_running((await start(operator)).id)

    ended = await OPERATIONS[ending](operator, job)
    if ended.status is S.CANCELING:
        ended = await jobs.mark_drained(job.id)

    assert ended.status in ENDED
    assert ended.ended_at is not None


async def test_a_resumed_job_keeps_its_first_start_and_is_no_longer_ended(acme):
    operator = acme.actor()
    running = await jobs.mark_running((await start(operator)).id)
    await jobs.stop_job(operator, running.id)
    await jobs.mark_drained(running.id)

    resumed = await jobs.resume_job(operator, running.id)
    assert (resumed.status, resumed.ended_at) == (S.PENDING, None)

    running_again = await jobs.mark_running(running.id)
    assert running_again.started_at == running.started_at


# ---------------------------------------------------------------- a job's history


async def test_a_whole_life_is_one_gap_free_chain_of_events(acme):
    operator = acme.actor()
    admin = acme.actor(Role.ADMIN)
    job = await start(operator)
    await jobs.mark_running(job.id)
    await jobs.set_job_low_priority(admin, job.id, True)
    await jobs.stop_job(operator, job.id)
    await jobs.mark_drained(job.id)
    await jobs.resume_job(operator, job.id)
    await jobs.mark_running(job.id)
    await jobs.mark_waiting(job.id)
    await jobs.hide_job(operator, job.id)
    await jobs.finish_job(job.id)

    events = await events_of(job)

    assert [e.seq for e in events] == list(range(1, 11))
    assert [event_name(e) for e in events[1:]] == [
        "mark_running", "set_low_priority", "stop", "mark_drained", "resume",
        "mark_running", "mark_waiting", "hide", "finish_job",
    ]
    assert events[0].from_status is None
    for previous, event in zip(events, events[1:]):
        assert event.from_status is previous.to_status
    final = await Job.get(id=job.id)
    assert (final.seq, final.status) == (10, events[-1].to_status)
    assert (final.low_priority, final.hidden) == (True, True)
    assert events[2].actor == admin.name


# ---------------------------------------------------------------- children follow their parent


async def family(operator) -> tuple[Job, Job, Job, Job]:
    """A running root with a running child (which has a pending grandchild) and a finished child."""
    root = await jobs.mark_running((await start(operator)).id)
    child = await start(operator, parent_id=root.id)
    grandchild = await start(operator, parent_id=child.id)
    done_child = await start(operator, parent_id=root.id)
    await jobs.mark_running(child.id)
    await jobs.mark_running(done_child.id)
    await jobs.finish_job(done_child.id)
    return root, child, grandchild, done_child


async def statuses(*family_jobs: Job) -> list[JobStatus]:
    return [(await Job.get(id=job.id)).status for job in family_jobs]


async def test_stopping_a_parent_stops_its_children_too(acme):
    operator = acme.actor()
    root, child, grandchild, done_child = await family(operator)

    await jobs.stop_job(operator, root.id)

    assert await statuses(root, child, grandchild, done_child) == [
        S.STOPPING, S.STOPPING, S.STOPPED, S.FINISHED
    ]

    await jobs.force_stop_job(operator, root.id)
    assert await statuses(root, child, grandchild, done_child) == [
        S.STOPPED, S.STOPPED, S.STOPPED, S.FINISHED
    ]

    await jobs.resume_job(operator, root.id)
    assert await statuses(root, child, grandchild, done_child) == [
        S.PENDING, S.PENDING, S.PENDING, S.FINISHED
    ]


async def test_canceling_a_parent_cancels_its_children_too(acme):
    operator = acme.actor()
    root, child, grandchild, done_child = await family(operator)
    await add_chunk(grandchild, 0, C.PENDING, [R.PENDING])

    await jobs.cancel_job(operator, root.id)

    assert await statuses(root, child, grandchild, done_child) == [
        S.CANCELING, S.CANCELING, S.CANCELED, S.FINISHED
    ]
    assert await record_statuses(grandchild) == [R.CANCELED]


# ---------------------------------------------------------------- restart and retry


async def test_restart_starts_a_new_pending_job_and_keeps_the_old_history(acme):
    operator = acme.actor()
    old = await start(operator, name="nightly sync", params={"records": 7}, chunk_size=3)
    await jobs.mark_running(old.id)
    await jobs.fail_job(old.id, "the CRM was down")
    old_history = (await snapshot(old.id)).events
    used = await jobs_used(operator)

    new = await jobs.restart_job(operator, old.id)

    assert (new.status, new.restarted_from_id, new.retry_failed) == (S.PENDING, old.id, False)
    assert (new.type, new.name, new.params, new.chunk_size) == (
        "test.plain", "nightly sync", {"records": 7}, 3
    )
    assert (new.started_at, new.ended_at, new.outcome, new.error) == (None, None, None, None)
    assert new.root_id == new.id
    assert (await snapshot(old.id)).events == old_history
    assert (await Job.get(id=old.id)).status is S.FAILED
    assert await jobs_used(operator) == used + 1


async def test_retry_failed_records_refuses_a_job_without_failed_records(acme):
    operator = acme.actor()
    job = await put_in(await start(operator), S.FINISHED)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED, R.SKIPPED])
    before = await snapshot(job.id)

    with pytest.raises(InvalidTransition) as refused:
        await jobs.retry_failed_records(operator, job.id)

    assert refused.value.code == "INVALID_TRANSITION"
    assert "no failed records" in refused.value.message
    assert await snapshot(job.id) == before


async def test_retry_failed_records_starts_a_job_over_the_failed_records(acme):
    operator = acme.actor()
    job = await put_in(await start(operator), S.FINISHED)
    await add_chunk(job, 0, C.COMPLETED, [R.SUCCEEDED, R.FAILED, R.INTERRUPTED])

    retry = await jobs.retry_failed_records(operator, job.id)

    assert (retry.status, retry.restarted_from_id, retry.retry_failed) == (S.PENDING, job.id, True)
    assert await execution.failed_record_keys(job.id) == ["r1", "r2"]


async def test_a_retry_says_it_runs_the_failed_records_and_counts_only_them(acme):
    operator = acme.actor()
    old = await put_in(await start(operator, name="spring sale", params={"records": 5}), S.FINISHED)
    await add_chunk(old, 0, C.COMPLETED, [R.SUCCEEDED, R.FAILED, R.SUCCEEDED, R.INTERRUPTED, R.FAILED])

    retry = await jobs.retry_failed_records(operator, old.id)

    assert (retry.name, retry.restarted_from_id, retry.params) == (
        "spring sale (retry of 3 failed records)", old.id, {"records": 5}
    )
    assert job_progress(retry) == Progress(total=3, counts=Counts(), estimated=False)
    assert retry.records_reserved == 3


async def test_restarting_a_retry_retries_the_same_records_again(acme):
    operator = acme.actor()
    old = await put_in(await start(operator, name="spring sale", params={"records": 3}), S.FINISHED)
    await add_chunk(old, 0, C.COMPLETED, [R.SUCCEEDED, R.FAILED, R.FAILED])
    retry = await put_in(await jobs.retry_failed_records(operator, old.id), S.CANCELED)

    again = await jobs.restart_job(operator, retry.id)

    assert (again.name, again.retry_failed, again.restarted_from_id) == (retry.name, True, old.id)
    assert (job_progress(again).total, again.records_reserved) == (2, 2)


async def test_restart_is_refused_by_the_plan_limit_like_any_start(make_tenant):
    tenant = await make_tenant(jobs_per_month=1)
    operator = tenant.actor()
    job = await put_in(await start(operator), S.FINISHED)
    before = await snapshot(job.id)

    with pytest.raises(PlanLimitExceeded) as refused:
        await jobs.restart_job(operator, job.id)

    assert refused.value.code == "PLAN_LIMIT"
    assert await snapshot(job.id) == before


# ---------------------------------------------------------------- hide, priority, waits


async def test_hiding_a_running_job_never_cancels_it(acme):
    operator = acme.actor()
    job = await put_in(await job_with_everything(operator), S.RUNNING)
    before = await snapshot(job.id)

    hidden = await jobs.hide_job(operator, job.id)

    assert (hidden.status, hidden.hidden) == (S.RUNNING, True)
    after = await snapshot(job.id)
    assert (after.chunks, after.records) == (before.chunks, before.records)
    assert await jobs.visible_jobs(operator).filter(id=job.id).exists()  # lists filter, not the verb


async def test_unhiding_brings_a_hidden_job_back_and_needs_an_admin(acme):
    operator, admin = acme.actor(), acme.actor(Role.ADMIN)
    job = await put_in(await job_with_everything(operator), S.RUNNING)
    await jobs.hide_job(operator, job.id)
    hidden = await snapshot(job.id)

    with pytest.raises(Forbidden):
        await jobs.unhide_job(operator, job.id)
    assert await snapshot(job.id) == hidden
    shown = await jobs.unhide_job(admin, job.id)

    assert (shown.status, shown.hidden) == (S.RUNNING, False)
    after = await snapshot(job.id)
    assert (after.chunks, after.records) == (hidden.chunks, hidden.records)
    last = (await events_of(job))[-1]
    assert (last.kind, last.seq, last.data) == (EventKind.UNHIDDEN.value, hidden.seq + 1, {"hidden": False})
    with pytest.raises(InvalidTransition):
        await jobs.unhide_job(admin, job.id)  # not hidden any more
    assert await snapshot(job.id) == after


async def test_complete_wait_continues_the_record_and_the_job(acme):
    operator = acme.actor()
    job = await put_in(await start(operator), S.WAITING)
    chunk = await add_chunk(job, 0, C.WAITING, [R.SUCCEEDED, R.WAITING])
    waiting = await Record.get(chunk_id=chunk.id, status=R.WAITING)

    record = await jobs.complete_wait(operator, waiting.id, {"approved": True})

    assert (record.status, record.wait_payload) == (R.PENDING, {"approved": True})
    assert await chunk_statuses(job) == [C.PENDING]  # parked: dispatch it again
    last = (await events_of(job))[-1]
    assert (last.from_status, last.to_status, event_name(last)) == (S.WAITING, S.RUNNING, "complete_wait")

    with pytest.raises(InvalidTransition):
        await jobs.complete_wait(operator, waiting.id, {"approved": False})
    assert (await Record.get(id=waiting.id)).wait_payload == {"approved": True}


async def test_a_wait_that_times_out_continues_the_record_and_the_job(acme):
    job = await put_in(await start(acme.actor()), S.WAITING)
    chunk = await add_chunk(job, 0, C.WAITING, [R.WAITING, R.WAITING])
    expired, answered_later = await Record.filter(chunk_id=chunk.id).order_by("position")
    await Record.filter(id=expired.id).update(wait_deadline=utcnow() - timedelta(seconds=1))
    await Record.filter(id=answered_later.id).update(wait_deadline=utcnow() + timedelta(hours=1))

    await jobs.expire_waits()

    await expired.refresh_from_db()
    await answered_later.refresh_from_db()
    assert (expired.status, expired.wait_payload) == (R.PENDING, jobs.WAIT_TIMED_OUT)
    assert (answered_later.status, answered_later.wait_payload) == (R.WAITING, None)
    last = (await events_of(job))[-1]
    assert (last.from_status, last.to_status) == (S.WAITING, S.RUNNING)


async def test_an_expired_wait_of_a_canceled_job_stays_as_it_is(acme):
    job = await put_in(await start(acme.actor()), S.CANCELED)
    chunk = await add_chunk(job, 0, C.CANCELED, [R.WAITING])
    await Record.filter(chunk_id=chunk.id).update(wait_deadline=utcnow() - timedelta(seconds=1))
    before = await snapshot(job.id)

    await jobs.expire_waits()

    assert await snapshot(job.id) == before


# ---------------------------------------------------------------- roles

# A status from which each verb succeeds for someone allowed to use it.
READY = {
    "stop": S.RUNNING,
    "force_stop": S.STOPPING,
    "resume": S.STOPPED,
    "cancel": S.RUNNING,
    "restart": S.FAILED,
    "retry_failed_records": S.FAILED,
    "hide": S.RUNNING,
    "set_low_priority": S.RUNNING,
}


@pytest.mark.parametrize("verb", list(VERBS))
async def test_a_viewer_may_not_steer_any_job(acme, verb):
    job = await put_in(await job_with_everything(acme.actor()), READY[verb])
    before = await snapshot(job.id)

    with pytest.raises(Forbidden) as refused:
        await VERBS[verb](acme.actor(Role.VIEWER), job)

    assert refused.value.code == "FORBIDDEN"
    assert await snapshot(job.id) == before


async def test_a_viewer_may_neither_start_jobs_nor_answer_waits(acme):
    viewer = acme.actor(Role.VIEWER)
    job = await put_in(await start(acme.actor()), S.WAITING)
    chunk = await add_chunk(job, 0, C.WAITING, [R.WAITING])
    waiting = await Record.get(chunk_id=chunk.id)

    with pytest.raises(Forbidden):
        await start(viewer)
    with pytest.raises(Forbidden):
        await jobs.complete_wait(viewer, waiting.id)

    assert await Job.filter(tenant_id=acme.tenant.id).count() == 1
    assert (await Record.get(id=waiting.id)).status is R.WAITING


@pytest.mark.parametrize("verb", [verb for verb in VERBS if verb != "set_low_priority"])
async def test_an_operator_steers_jobs(acme, verb):
    job = await put_in(await job_with_everything(acme.actor()), READY[verb])

    result = await VERBS[verb](acme.actor(Role.OPERATOR), job)

    assert isinstance(result, Job)


async def test_only_an_admin_sets_the_priority(acme):
    job = await put_in(await start(acme.actor()), S.RUNNING)
    before = await snapshot(job.id)

    with pytest.raises(Forbidden) as refused:
        await jobs.set_job_low_priority(acme.actor(Role.OPERATOR), job.id, True)
    assert refused.value.code == "FORBIDDEN"
    assert await snapshot(job.id) == before

    admin = acme.actor(Role.ADMIN)
    assert (await jobs.set_job_low_priority(admin, job.id, True)).low_priority is True
    assert (await jobs.set_job_low_priority(admin, job.id, False)).low_priority is False
    assert (await Job.get(id=job.id)).status is S.RUNNING


@pytest.mark.parametrize("status", ENDED)
async def test_the_priority_of_an_ended_job_cannot_change(acme, status):
    admin = acme.actor(Role.ADMIN)
    job = await put_in(await start(admin), status)
    before = await snapshot(job.id)

    with pytest.raises(InvalidTransition) as refused:
        await jobs.set_job_low_priority(admin, job.id, True)

    assert (refused.value.code, refused.value.status, refused.value.operation) == (
        "INVALID_TRANSITION", status.value, "SET_LOW_PRIORITY"
    )
    assert await snapshot(job.id) == before


async def test_starting_a_job_with_low_priority_is_an_admins_decision_like_setting_it(acme):
    operator, admin = acme.actor(Role.OPERATOR), acme.actor(Role.ADMIN)

    with pytest.raises(Forbidden) as refused:
        await start(operator, low_priority=True)

    assert (refused.value.code, refused.value.needed_role) == ("FORBIDDEN", "ADMIN")
    assert await Job.filter(tenant_id=acme.tenant.id).count() == 0
    assert await jobs_used(operator) == 0
    assert (await start(operator, low_priority=False)).low_priority is False
    assert (await start(admin, low_priority=True)).low_priority is True
