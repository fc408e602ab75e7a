"""Conflicting requests at the same moment leave one valid history.

Every race is judged the same way: the job's events must be gap-free and
chained, and the moves they record, with the final status, must be what some
one-after-another order of the same requests gives (``serial_histories``).

On PostgreSQL the racers also run truly in parallel: a separate connection
holds the row they all want, every racer blocks on it in its own transaction,
and only then is the row let go, so they all act on the same stale read.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import pytest

from domain import jobs
from domain.access import Role
from domain.clock import month_of, utcnow
from domain.errors import InvalidTransition, JobNotStoppable, PlanLimitExceeded
from domain.models import Chunk, Job, Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from domain.usage import plan_usage
from tests.domain.expectations import serial_histories
from tests.domain.scenarios import (
    OPERATIONS,
    WORKER_EVENTS,
    add_chunk,
    event_name,
    events_of,
    jobs_used,
    put_in,
    start,
)

S = JobStatus

RACES: list[tuple[JobStatus, tuple[str, ...]]] = [
    (S.RUNNING, ("stop", "cancel")),
    (S.STOPPED, ("resume", "cancel")),
    (S.STOPPED, ("resume", "resume")),
    (S.RUNNING, ("stop", "force_stop")),
    (S.STOPPING, ("force_stop", "mark_drained")),
    (S.RUNNING, ("cancel", "finish_job")),
    (S.PENDING, ("stop", "cancel", "mark_running")),
    (
        S.RUNNING,
        ("stop", "cancel", "force_stop", "hide", "set_low_priority", "mark_waiting", "finish_job"),
    ),
]
RACE_IDS = [f"{status}:{'+'.join(operations)}" for status, operations in RACES]
ROUNDS = 3


async def racing_job(actor, status: JobStatus) -> Job:
    job = await put_in(await start(actor), status)
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED])
    await add_chunk(job, 1, ChunkStatus.PENDING, [RecordStatus.PENDING, RecordStatus.PENDING])
    return job


async def assert_one_valid_history(
    job: Job, start_status: JobStatus, operations: Sequence[str], results: Sequence[Any]
) -> list[str]:
    """The race left a history some serial order explains; returns the moves it made."""
    events = [event for event in await events_of(job) if event.seq > 1]
    final = await Job.get(id=job.id)

    assert [event.seq for event in events] == list(range(2, 2 + len(events)))
    assert final.seq == 1 + len(events)
    previous = start_status
    for event in events:
        assert event.from_status is previous
        previous = event.to_status
    assert final.status is previous

    moves = [event_name(event) for event in events]
    assert (tuple(moves), final.status) in serial_histories(start_status, tuple(sorted(operations)))

    succeeded = Counter(
        operation
        for operation, result in zip(operations, results)
        if isinstance(result, Job)
    )
    assert succeeded == Counter(moves)
    for operation, result in zip(operations, results):
        if operation in WORKER_EVENTS:
            assert result is None or isinstance(result, Job), repr(result)
        else:
            assert isinstance(result, (Job, InvalidTransition)), repr(result)

    await assert_chunks_match(final)
    return moves


async def assert_chunks_match(job: Job) -> None:
    """What the final status promises about the chunks and records holds."""
    chunks = set(await Chunk.filter(job_id=job.id).values_list("status", flat=True))
    records = set(await Record.filter(job_id=job.id).values_list("status", flat=True))
    if job.status is S.CANCELED:
        assert chunks <= {ChunkStatus.COMPLETED, ChunkStatus.CANCELED}
        assert records <= {RecordStatus.SUCCEEDED, RecordStatus.CANCELED}
    if job.status is S.STOPPED:
        assert ChunkStatus.PENDING not in chunks
    if job.status is S.PENDING:
        assert ChunkStatus.STOPPED not in chunks


def race(actor, job: Job, operations: Sequence[str]) -> list[Callable[[], Awaitable[Any]]]:
    return [lambda operation=operation: OPERATIONS[operation](actor, job) for operation in operations]


async def settle(calls: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    return await asyncio.gather(*(call() for call in calls), return_exceptions=True)


@pytest.mark.parametrize(("status", "operations"), RACES, ids=RACE_IDS)
async def test_racing_requests_leave_one_valid_history(make_tenant, status, operations):
    tenant = await make_tenant()
    admin = tenant.actor(Role.ADMIN)
    for _ in range(ROUNDS):
        job = await racing_job(admin, status)

        results = await settle(race(admin, job, operations))

        await assert_one_valid_history(job, status, operations, results)


async def test_of_five_simultaneous_stops_exactly_one_wins(acme):
    admin = acme.actor(Role.ADMIN)
    job = await racing_job(admin, S.RUNNING)

    results = await settle(race(admin, job, ["stop"] * 5))

    assert sum(isinstance(result, Job) for result in results) == 1
    assert sorted(result.code for result in results if not isinstance(result, Job)) == [
        "INVALID_TRANSITION"
    ] * 4
    assert [(e.seq, e.to_status) for e in (await events_of(job))[1:]] == [(2, S.STOPPING)]


async def test_children_follow_whichever_of_stop_and_cancel_won(acme):
    admin = acme.actor(Role.ADMIN)
    for _ in range(ROUNDS):
        parent = await racing_job(admin, S.RUNNING)
        child = await put_in(await start(admin, parent_id=parent.id), S.RUNNING)

        results = await settle(race(admin, parent, ["stop", "cancel"]))

        moves = await assert_one_valid_history(parent, S.RUNNING, ["stop", "cancel"], results)
        assert [event_name(event) for event in (await events_of(child))[1:]] == moves
        assert (await Job.get(id=child.id)).status is (await Job.get(id=parent.id)).status


# ---------------------------------------------------------------- admission races


async def test_two_starts_for_the_last_job_of_the_month_admit_exactly_one(make_tenant):
    tenant = await make_tenant(jobs_per_month=2)
    operator = tenant.actor()
    await start(operator)

    results = await settle([lambda: start(operator), lambda: start(operator)])

    assert_one_admitted(results, limit=2)
    assert await Job.filter(tenant_id=tenant.tenant.id).count() == 2
    assert await jobs_used(operator) == 2


async def test_two_starts_with_one_idempotency_key_make_one_job(acme):
    bot = acme.actor()

    results = await settle([lambda: start(bot, idempotency_key="k"), lambda: start(bot, idempotency_key="k")])

    assert_same_job(results)
    assert await Job.filter(tenant_id=acme.tenant.id).count() == 1
    assert await jobs_used(bot) == 1


async def test_two_starts_for_the_last_records_of_the_month_admit_exactly_one(make_tenant):
    tenant = await make_tenant(records_per_month=3000)
    operator = tenant.actor()
    await start(operator, params={"records": 1000})

    results = await settle([lambda: start(operator, params={"records": 2000})] * 2)

    assert_one_admitted_for_records(results, limit=3000, requested=2000)
    assert await Job.filter(tenant_id=tenant.tenant.id).count() == 2
    assert (await plan_usage(operator)).records_reserved == 3000


def assert_one_admitted(results: Sequence[Any], limit: int) -> None:
    admitted = [result for result in results if isinstance(result, Job)]
    refused = [result for result in results if not isinstance(result, Job)]
    assert len(admitted) == 1, results
    assert len(refused) == 1 and isinstance(refused[0], PlanLimitExceeded), results
    assert (refused[0].limit, refused[0].used, refused[0].requested) == (limit, limit, 1)


def assert_one_admitted_for_records(results: Sequence[Any], limit: int, requested: int) -> None:
    admitted = [result for result in results if isinstance(result, Job)]
    refused = [result for result in results if not isinstance(result, Job)]
    assert len(admitted) == 1, results
    assert len(refused) == 1 and isinstance(refused[0], PlanLimitExceeded), results
    assert (refused[0].resource, refused[0].limit, refused[0].used, refused[0].requested) == (
        "records", limit, limit, requested
    )


def assert_same_job(results: Sequence[Any]) -> None:
    assert all(isinstance(result, Job) for result in results), results
    assert len({result.id for result in results}) == 1


# ---------------------------------------------------------------- truly parallel, on PostgreSQL


@pytest.fixture
async def postgres_dsn(database: str, request: pytest.FixtureRequest) -> str:
    if database != "postgres":
        pytest.skip("parallel transactions on separate connections need PostgreSQL")
    return request.getfixturevalue("postgres_url")


# Tortoise's pool holds five connections; each racer keeps one while it waits.
MAX_PARALLEL = 5
LOCK_WAIT_TIMEOUT = 10.0


async def race_behind_a_lock(
    dsn: str, lock_sql: str, lock_args: Sequence[Any], calls: Sequence[Callable[[], Awaitable[Any]]]
) -> tuple[list[Any], int]:
    """Hold a row lock, start ``calls`` one by one, each queueing on it (or done), then let go.

    PostgreSQL hands a row lock to its waiters in the order they queued, so the
    racers reach the row in the order of ``calls``, each acting on what it read
    before the first of them wrote. Returns the results and how many queued.
    """
    assert len(calls) <= MAX_PARALLEL
    holder, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        transaction = holder.transaction()
        await transaction.start()
        assert await holder.fetch(lock_sql, *lock_args), "nothing to lock"
        tasks: list[asyncio.Task] = []
        for call in calls:
            tasks.append(asyncio.create_task(call()))
            blocked = await wait_until_all_blocked(watcher, tasks)
        await transaction.commit()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await holder.close()
        await watcher.close()
    return results, blocked


async def wait_until_all_blocked(watcher: asyncpg.Connection, tasks: Sequence[asyncio.Task]) -> int:
    deadline = time.monotonic() + LOCK_WAIT_TIMEOUT
    while True:
        blocked = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        running = sum(not task.done() for task in tasks)
        if blocked == running:
            return blocked
        if time.monotonic() > deadline:
            raise TimeoutError(f"{running} racers still running, only {blocked} blocked on the lock")
        await asyncio.sleep(0.005)


LOCK_JOB = "SELECT id FROM job WHERE id = $1 FOR UPDATE"
LOCK_USAGE = "SELECT id FROM plan_usage WHERE tenant_id = $1 AND month = $2 FOR UPDATE"
PARALLEL_RACES: list[tuple[JobStatus, tuple[str, ...], int]] = [
    # (start status, racers, how many pass their first check and block on the row)
    (S.RUNNING, ("stop", "cancel"), 2),
    (S.STOPPED, ("resume", "cancel"), 2),
    (S.STOPPED, ("resume", "resume"), 2),
    (S.RUNNING, ("stop", "force_stop"), 1),
    (S.STOPPING, ("force_stop", "mark_drained", "finish_job"), 3),
    (S.RUNNING, ("stop",) * 5, 5),
    (S.RUNNING, ("stop", "cancel", "hide", "set_low_priority", "mark_waiting"), 5),
    (S.PENDING, ("stop", "cancel", "mark_running"), 3),
]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("status", "operations", "blocking"),
    PARALLEL_RACES,
    ids=[f"{status}:{'+'.join(operations)}" for status, operations, _ in PARALLEL_RACES],
)
async def test_racers_on_separate_connections_leave_one_valid_history(
    acme, postgres_dsn, status, operations, blocking
):
    admin = acme.actor(Role.ADMIN)
    job = await racing_job(admin, status)

    results, blocked = await race_behind_a_lock(
        postgres_dsn, LOCK_JOB, [job.id], race(admin, job, operations)
    )

    assert blocked == blocking
    moves = await assert_one_valid_history(job, status, operations, results)
    assert moves, "someone must win"


@pytest.mark.postgres
async def test_parallel_starts_for_the_last_job_of_the_month_admit_exactly_one(make_tenant, postgres_dsn):
    tenant = await make_tenant(jobs_per_month=2)
    operator = tenant.actor()
    await start(operator)

    results, blocked = await race_behind_a_lock(
        postgres_dsn,
        LOCK_USAGE,
        [tenant.tenant.id, month_of(utcnow())],
        [lambda: start(operator), lambda: start(operator)],
    )

    assert blocked == 2
    assert_one_admitted(results, limit=2)
    assert await Job.filter(tenant_id=tenant.tenant.id).count() == 2
    assert await jobs_used(operator) == 2


@pytest.mark.postgres
async def test_parallel_starts_for_the_last_records_of_the_month_admit_exactly_one(make_tenant, postgres_dsn):
    tenant = await make_tenant(records_per_month=3000)
    operator = tenant.actor()
    await start(operator, params={"records": 1000})

    results, blocked = await race_behind_a_lock(
        postgres_dsn,
        LOCK_USAGE,
        [tenant.tenant.id, month_of(utcnow())],
        [lambda: start(operator, params={"records": 2000})] * 2,
    )

    assert blocked == 2
    assert_one_admitted_for_records(results, limit=3000, requested=2000)
    assert await Job.filter(tenant_id=tenant.tenant.id).count() == 2
    assert (await plan_usage(operator)).records_reserved == 3000


@pytest.mark.postgres
async def test_parallel_starts_with_one_idempotency_key_make_one_job(make_tenant, postgres_dsn):
    tenant = await make_tenant()
    bot = tenant.actor()
    await start(bot)  # the usage row the racers will queue on

    results, blocked = await race_behind_a_lock(
        postgres_dsn,
        LOCK_USAGE,
        [tenant.tenant.id, month_of(utcnow())],
        [lambda: start(bot, idempotency_key="k")] * 3,
    )

    assert blocked == 3
    assert_same_job(results)
    assert await Job.filter(tenant_id=tenant.tenant.id, idempotency_key="k").count() == 1
    assert await jobs_used(bot) == 2


@pytest.mark.postgres
async def test_a_cancel_that_waited_while_a_system_job_started_running_is_refused(acme, postgres_dsn):
    admin = acme.actor(Role.ADMIN)
    job = await start(admin, "test.system")

    results, blocked = await race_behind_a_lock(
        postgres_dsn,
        LOCK_JOB,
        [job.id],
        [lambda: jobs.mark_running(job.id), lambda: jobs.cancel_job(admin, job.id)],
    )

    assert blocked == 2
    running, refused = results
    assert running.status is S.RUNNING
    assert isinstance(refused, JobNotStoppable), repr(refused)
    assert (await Job.get(id=job.id)).status is S.RUNNING
    assert [event_name(event) for event in (await events_of(job))[1:]] == ["mark_running"]
