"""Bulk operations at the service level: the jobs chosen at the start, each changed by its own
verb as the operation's creator, a result per job, a cancel midway, and runs that stop
anywhere and continue without acting on any job twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain import bulk, jobs
from domain.access import Actor, PrincipalKind, Role
from domain.clock import utcnow
from domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from domain.listing import JobListFilter
from domain.models import BulkOperation, BulkTarget, Job, JobEvent, Principal
from domain.statuses import (
    BulkAction,
    BulkOperationStatus,
    BulkTargetStatus,
    ChunkStatus,
    JobOutcome,
    JobStatus,
    RecordStatus,
)
from domain.tenants import actor_of, create_token
from tests.conftest import TenantFixture
from tests.domain.scenarios import MISSING_ID, add_chunk, put_in, snapshot, start

S = JobStatus
LEASE = timedelta(seconds=30)
PENDING_ONLY = JobListFilter(status=[S.PENDING])


async def principal(tenant: TenantFixture, role: Role) -> Actor:
    """A principal of the tenant, as its token's requests act: operations need one."""
    issued = await create_token(tenant.tenant.slug, role, name=f"{role.value.lower()} user", kind=PrincipalKind.USER)
    return actor_of(issued.principal)


async def run_batches(operation: BulkOperation, owner: str = "runner", batches: int | None = None) -> bulk.BulkRun:
    """What a worker's run does, here and one job at a time: ``batches`` of two, or all of them."""
    run = await bulk.begin_run(operation.id, owner, LEASE)
    assert run is not None
    after = None
    while batches is None or batches > 0:
        targets = await bulk.next_targets(run, after, 2)
        if not targets:
            assert await bulk.complete_run(run)
            break
        for target_id, job_id in targets:
            assert await bulk.apply_to_target(run, target_id, job_id)
        after = targets[-1][1]
        batches = None if batches is None else batches - 1
    return run


async def results(operation: BulkOperation) -> dict[int, tuple[BulkTargetStatus, str | None]]:
    rows = await BulkTarget.filter(operation_id=operation.id).values_list("job_id", "status", "error_code")
    return {job_id: (status, code) for job_id, status, code in rows}


async def statuses(*made: Job) -> list[JobStatus]:
    return [(await Job.get(id=job.id)).status for job in made]


async def failed_job(actor: Actor) -> Job:
    job = await put_in(await start(actor), S.FINISHED, outcome=JobOutcome.WITH_ERRORS, ended_at=utcnow())
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED, RecordStatus.FAILED])
    return job


# ---------------------------------------------------------------- choosing the jobs


async def test_a_filter_chooses_the_jobs_it_matches_when_the_operation_starts(acme):
    operator = await principal(acme, Role.OPERATOR)
    chosen = [await start(operator) for _ in range(3)]
    running = await put_in(await start(operator), S.RUNNING)

    operation = await bulk.start_bulk_operation(operator, BulkAction.CANCEL, where=PENDING_ONLY)
    later = await start(operator)
    await run_batches(operation)

    assert operation.total == 3
    assert await statuses(*chosen) == [S.CANCELED] * 3
    assert await statuses(running, later) == [S.RUNNING, S.PENDING]
    done = await BulkOperation.get(id=operation.id)
    assert (done.status, done.total, done.done, done.succeeded, done.failed) == (
        BulkOperationStatus.COMPLETED, 3, 3, 3, 0
    )
    assert done.started_at is not None and done.ended_at is not None


async def test_each_job_gets_its_verbs_answer_as_its_result(make_tenant):
    acme, other = await make_tenant(), await make_tenant()
    admin = await principal(acme, Role.ADMIN)
    pending = await start(admin)
    finished = await put_in(await start(admin), S.FINISHED, ended_at=utcnow())
    unstoppable = await put_in(await start(admin, "test.system"), S.RUNNING)
    theirs = await start(other.actor(Role.ADMIN))
    before = {job.id: await snapshot(job.id) for job in (finished, unstoppable, theirs)}

    operation = await bulk.start_bulk_operation(
        admin, BulkAction.CANCEL, ids=[pending.id, finished.id, unstoppable.id, theirs.id, MISSING_ID, pending.id]
    )
    await run_batches(operation)

    assert operation.total == 5  # an id given twice is one job
    assert await results(operation) == {
        pending.id: (BulkTargetStatus.SUCCEEDED, None),
        finished.id: (BulkTargetStatus.FAILED, "INVALID_TRANSITION"),
        unstoppable.id: (BulkTargetStatus.FAILED, "NOT_STOPPABLE"),
        theirs.id: (BulkTargetStatus.FAILED, "NOT_FOUND"),
        MISSING_ID: (BulkTargetStatus.FAILED, "NOT_FOUND"),
    }
    messages = dict(await BulkTarget.filter(operation_id=operation.id).values_list("job_id", "error_message"))
    assert messages[theirs.id] == messages[MISSING_ID].replace(str(MISSING_ID), str(theirs.id))
    assert await statuses(pending) == [S.CANCELED]
    assert {job_id: await snapshot(job_id) for job_id in before} == before
    done = await BulkOperation.get(id=operation.id)
    assert (done.done, done.succeeded, done.failed) == (5, 1, 4)


async def test_every_change_is_the_creators_with_the_role_they_have_when_a_run_takes_it_up(acme):
    operator = await principal(acme, Role.OPERATOR)
    first, second = await start(operator), await start(operator)
    operation = await bulk.start_bulk_operation(operator, BulkAction.STOP, ids=[first.id, second.id])

    run = await run_batches(operation, batches=0)
    await bulk.apply_to_target(run, *(await bulk.next_targets(run, None, 1))[0])
    event = await JobEvent.filter(job_id=first.id).order_by("-seq").first()
    assert (event.actor_principal_id, event.actor) == (operator.principal_id, "operator user")
    # Demoted meanwhile: the next run's verbs refuse the rest, as they would refuse a request of theirs.
    await Principal.filter(id=operator.principal_id).update(role=Role.VIEWER)
    await bulk.release_run(run)
    await run_batches(operation)

    assert await results(operation) == {
        first.id: (BulkTargetStatus.SUCCEEDED, None),
        second.id: (BulkTargetStatus.FAILED, "FORBIDDEN"),
    }
    assert await statuses(first, second) == [S.STOPPED, S.PENDING]


@pytest.mark.parametrize("action", list(BulkAction))
async def test_starting_needs_the_role_the_actions_verb_needs(acme, action):
    needed = bulk.ACTIONS[action].role
    below = Role.OPERATOR if needed is Role.ADMIN else Role.VIEWER
    job = await start(acme.actor(Role.ADMIN))
    created = await BulkOperation.filter(tenant_id=acme.tenant.id).count()

    with pytest.raises(Forbidden) as refused:
        await bulk.start_bulk_operation(await principal(acme, below), action, ids=[job.id])

    assert refused.value.needed_role == needed.value
    assert await BulkOperation.filter(tenant_id=acme.tenant.id).count() == created
    # With the role, the verb itself lets the job through.
    operation = await bulk.start_bulk_operation(await principal(acme, needed), action, ids=[job.id])
    await run_batches(operation)
    assert (await results(operation))[job.id][1] != "FORBIDDEN"


@pytest.mark.parametrize(
    ("ids", "where", "field"),
    [
        (None, None, "input"),
        ([1], JobListFilter(), "input"),
        ([], None, "ids"),
        (list(range(1, bulk.MAX_IDS + 2)), None, "ids"),
        (None, JobListFilter(search="x" * 201), "search"),
    ],
)
async def test_bad_input_is_refused_and_creates_nothing(acme, ids, where, field):
    operator = await principal(acme, Role.OPERATOR)

    with pytest.raises(InvalidInput) as refused:
        await bulk.start_bulk_operation(operator, BulkAction.STOP, ids=ids, where=where)

    assert refused.value.field == field
    assert not await BulkOperation.filter(tenant_id=acme.tenant.id).exists()


async def test_a_filter_refuses_what_the_job_list_refuses(make_tenant):
    acme, other = await make_tenant(), await make_tenant()
    operator = await principal(acme, Role.OPERATOR)

    with pytest.raises(NotFound):
        await bulk.start_bulk_operation(operator, BulkAction.STOP, where=JobListFilter(tenant_id=other.tenant.id))
    with pytest.raises(Forbidden):
        await bulk.start_bulk_operation(operator, BulkAction.STOP, where=JobListFilter(include_system=True))
    assert not await BulkOperation.filter(tenant_id=acme.tenant.id).exists()


# ---------------------------------------------------------------- isolation and visibility


async def test_a_filter_never_reaches_another_tenants_jobs(make_tenant):
    acme, other, home = await make_tenant(), await make_tenant(), await make_tenant()
    operator = await principal(acme, Role.OPERATOR)
    mine = await start(operator)
    theirs = await start(other.actor())
    before = await snapshot(theirs.id)

    operation = await bulk.start_bulk_operation(operator, BulkAction.CANCEL, where=PENDING_ONLY)
    await run_batches(operation)

    assert set(await results(operation)) == {mine.id}
    assert await snapshot(theirs.id) == before
    # The platform's filter reaches every tenant, as its job list does.
    platform = await principal(home, Role.PLATFORM)
    across = await bulk.start_bulk_operation(platform, BulkAction.HIDE, where=JobListFilter(tenant_id=other.tenant.id))
    await run_batches(across)
    assert await results(across) == {theirs.id: (BulkTargetStatus.SUCCEEDED, None)}


async def test_hidden_and_system_jobs_are_chosen_as_the_job_list_shows_them(acme):
    admin = await principal(acme, Role.ADMIN)
    shown = await start(admin)
    hidden = await jobs.hide_job(admin, (await start(admin)).id)
    system_job = await start(admin, "test.system")

    listed = await bulk.start_bulk_operation(admin, BulkAction.SET_LOW_PRIORITY, where=JobListFilter())
    with_hidden = await bulk.start_bulk_operation(
        admin, BulkAction.SET_LOW_PRIORITY, where=JobListFilter(include_hidden=True, include_system=True)
    )

    assert set(await results(listed)) == {shown.id}
    assert set(await results(with_hidden)) == {shown.id, hidden.id, system_job.id}
    for operation in (listed, with_hidden):
        await bulk.cancel_bulk_operation(admin, operation.id)


async def test_operations_are_seen_in_their_tenant_only(make_tenant):
    acme, other, home = await make_tenant(), await make_tenant(), await make_tenant()
    operator = await principal(acme, Role.OPERATOR)
    operation = await bulk.start_bulk_operation(operator, BulkAction.STOP, ids=[MISSING_ID])
    stranger = await principal(other, Role.ADMIN)

    with pytest.raises(NotFound):
        await bulk.get_bulk_operation(stranger, operation.id)
    with pytest.raises(NotFound):
        await bulk.cancel_bulk_operation(stranger, operation.id)
    assert (await bulk.list_bulk_operations(stranger)).page.items == []
    assert [o.id for o in (await bulk.list_bulk_operations(await principal(acme, Role.VIEWER))).page.items] == [
        operation.id
    ]
    platform = await principal(home, Role.PLATFORM)
    assert (await bulk.get_bulk_operation(platform, operation.id)).id == operation.id
    await bulk.cancel_bulk_operation(platform, operation.id)


# ---------------------------------------------------------------- canceling and continuing


async def test_a_cancel_midway_leaves_the_jobs_not_reached_untouched(acme):
    operator = await principal(acme, Role.OPERATOR)
    made = [await start(operator) for _ in range(6)]
    operation = await bulk.start_bulk_operation(operator, BulkAction.CANCEL, ids=[job.id for job in made])
    run = await run_batches(operation, batches=2)
    untouched = {job.id: await snapshot(job.id) for job in made[4:]}

    canceled = await bulk.cancel_bulk_operation(operator, operation.id)
    target_id, job_id = (await bulk.next_targets(run, made[3].id, 1))[0]
    applied = await bulk.apply_to_target(run, target_id, job_id)

    assert (canceled.status, applied) == (BulkOperationStatus.CANCELED, False)
    assert await statuses(*made) == [S.CANCELED] * 4 + [S.PENDING] * 2
    assert {job_id: await snapshot(job_id) for job_id in untouched} == untouched
    assert [status for status, _ in (await results(operation)).values()].count(BulkTargetStatus.PENDING) == 2
    ended = await BulkOperation.get(id=operation.id)
    assert (ended.status, ended.done, ended.total) == (BulkOperationStatus.CANCELED, 4, 6)
    assert not await bulk.keep_run(run, LEASE)
    with pytest.raises(InvalidTransition):
        await bulk.cancel_bulk_operation(operator, operation.id)
    with pytest.raises(Forbidden):
        await bulk.cancel_bulk_operation(await principal(acme, Role.VIEWER), operation.id)


async def test_a_run_whose_worker_died_is_continued_and_acts_on_no_job_twice(acme):
    operator = await principal(acme, Role.OPERATOR)
    made = [await failed_job(operator) for _ in range(5)]
    operation = await bulk.start_bulk_operation(
        operator, BulkAction.RETRY_FAILED_RECORDS, ids=[job.id for job in made]
    )
    dead = await run_batches(operation, "dead worker", batches=1)
    stale = (await bulk.next_targets(dead, made[1].id, 1))[0]

    # Its lease ran out, and the dispatcher handed the operation out again.
    await BulkOperation.filter(id=operation.id).update(lease_expires_at=utcnow() - timedelta(seconds=1))
    assert await bulk.hold_for_hand_out(operation.id, LEASE)
    await run_batches(operation, "next worker")
    # The dead worker was only slow: what it still had in hand is not applied again.
    assert await bulk.apply_to_target(dead, *stale)

    retries = await Job.filter(restarted_from_id__in=[job.id for job in made]).values_list("restarted_from_id", flat=True)
    assert sorted(retries) == sorted(job.id for job in made)
    done = await BulkOperation.get(id=operation.id)
    assert (done.status, done.done, done.succeeded) == (BulkOperationStatus.COMPLETED, 5, 5)


async def test_two_runs_at_once_still_act_on_each_job_once(acme):
    operator = await principal(acme, Role.OPERATOR)
    made = [await failed_job(operator) for _ in range(6)]
    operation = await bulk.start_bulk_operation(
        operator, BulkAction.RETRY_FAILED_RECORDS, ids=[job.id for job in made]
    )
    run = await bulk.begin_run(operation.id, "one", LEASE)
    assert run is not None
    other = bulk.BulkRun(operation.id, run.action, "another", run.actor)
    targets = await bulk.next_targets(run, None, 10)

    await asyncio.gather(
        *(bulk.apply_to_target(run, *target) for target in targets),
        *(bulk.apply_to_target(other, *target) for target in reversed(targets)),
    )

    retries = await Job.filter(restarted_from_id__in=[job.id for job in made]).values_list("restarted_from_id", flat=True)
    assert sorted(retries) == sorted(job.id for job in made)
    counted = await BulkOperation.get(id=operation.id)
    assert (counted.done, counted.succeeded) == (6, 6)


async def test_an_operation_with_no_jobs_completes(acme):
    operator = await principal(acme, Role.OPERATOR)
    operation = await bulk.start_bulk_operation(operator, BulkAction.STOP, where=PENDING_ONLY)

    await run_batches(operation)

    done = await BulkOperation.get(id=operation.id)
    assert (done.status, done.total, done.done) == (BulkOperationStatus.COMPLETED, 0, 0)


async def test_an_operation_no_runner_holds_is_handed_out_once(acme):
    operator = await principal(acme, Role.OPERATOR)
    operation = await bulk.start_bulk_operation(operator, BulkAction.STOP, ids=[MISSING_ID])

    assert operation.id in await bulk.operations_to_hand_out(1000)
    assert await bulk.hold_for_hand_out(operation.id, LEASE)
    assert operation.id not in await bulk.operations_to_hand_out(1000)
    assert not await bulk.hold_for_hand_out(operation.id, LEASE)
    run = await bulk.begin_run(operation.id, "worker", LEASE)
    assert run is not None and await bulk.begin_run(operation.id, "another worker", LEASE) is None
    # Draining, the worker lets go: handed out again at once.
    await bulk.release_run(run)
    assert operation.id in await bulk.operations_to_hand_out(1000)
    await run_batches(operation)
    assert operation.id not in await bulk.operations_to_hand_out(1000)
