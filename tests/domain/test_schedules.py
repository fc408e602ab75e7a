"""Schedules: creating them, starting due runs exactly once, and "run now" for admins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from domain.access import Role
from domain.clock import utcnow
from domain.errors import Forbidden, InvalidInput, NotFound, UnknownJobType
from domain.models import Job, Schedule
from domain.schedules import create_schedule, last_runs, run_schedule_now, start_due_schedules
from domain.statuses import JobStatus

EVERY_FIVE_MINUTES = "*/5 * * * *"


@pytest.fixture(autouse=True)
async def no_schedule_outlives_its_test(database: str) -> AsyncIterator[None]:
    began = utcnow()
    yield
    # Left enabled, they would come due and be started by the dispatchers of later tests.
    await Schedule.filter(created_at__gte=began).update(enabled=False, next_run_at=None)


async def schedules_of(tenant) -> list[str]:
    return await Schedule.filter(tenant_id=tenant.tenant.id).order_by("id").values_list("name", flat=True)


async def runs_of(schedule: Schedule) -> list[Job]:
    return await Job.filter(schedule_id=schedule.id).order_by("id")


async def make_due(schedule: Schedule) -> Schedule:
    await Schedule.filter(id=schedule.id).update(next_run_at=utcnow() - timedelta(minutes=1))
    await schedule.refresh_from_db()
    return schedule


# ---------------------------------------------------------------- creating


async def test_a_new_schedule_runs_next_at_its_cron_time(acme):
    before = utcnow()

    schedule = await create_schedule(
        acme.actor(Role.ADMIN), "contacts", "test.plain", EVERY_FIVE_MINUTES, {"records": 3}
    )

    stored = await Schedule.get(id=schedule.id)
    assert (stored.tenant_id, stored.type, stored.params, stored.enabled) == (
        acme.tenant.id, "test.plain", {"records": 3}, True
    )
    assert before < stored.next_run_at <= before + timedelta(minutes=5)
    assert stored.next_run_at.minute % 5 == 0 and stored.next_run_at.second == 0
    assert stored.last_run_at is None


async def test_a_disabled_schedule_has_no_next_run(acme):
    schedule = await create_schedule(
        acme.actor(Role.ADMIN), "paused", "test.plain", EVERY_FIVE_MINUTES, enabled=False
    )

    assert (await Schedule.get(id=schedule.id)).next_run_at is None


@pytest.mark.parametrize(
    ("cron", "type", "params", "error", "field"),
    [
        ("every day", "test.plain", {}, InvalidInput, "cron"),
        ("61 * * * *", "test.plain", {}, InvalidInput, "cron"),
        ("", "test.plain", {}, InvalidInput, "cron"),
        # Valid cron, but longer than any schedule can store.
        (",".join(str(minute) for minute in range(60)) + " * * * *", "test.plain", {}, InvalidInput, "cron"),
        (EVERY_FIVE_MINUTES, "no.such.type", {}, UnknownJobType, None),
        (EVERY_FIVE_MINUTES, "test.plain", {"records": -1}, InvalidInput, "params.records"),
        (EVERY_FIVE_MINUTES, "test.plain", {"colour": "red"}, InvalidInput, "params"),
        (EVERY_FIVE_MINUTES, "test.plain", [1, 2], InvalidInput, "params"),
    ],
)
async def test_invalid_schedules_are_refused_with_a_typed_error_and_nothing_created(
    acme, cron, type, params, error, field
):
    with pytest.raises(error) as refused:
        await create_schedule(acme.actor(Role.ADMIN), "bad", type, cron, params)

    if field is not None:
        assert refused.value.field == field
    assert await schedules_of(acme) == []


async def test_a_second_schedule_with_the_same_name_is_refused(acme):
    admin = acme.actor(Role.ADMIN)
    await create_schedule(admin, "nightly", "test.plain", "0 3 * * *")

    with pytest.raises(InvalidInput) as refused:
        await create_schedule(admin, "nightly", "test.plain", "0 4 * * *")

    assert refused.value.field == "name"
    assert await schedules_of(acme) == ["nightly"]


@pytest.mark.parametrize("name", ["n" * 201, "", "   "])
async def test_a_schedule_name_that_is_blank_or_does_not_fit_is_refused_as_input(acme, name):
    with pytest.raises(InvalidInput) as refused:
        await create_schedule(acme.actor(Role.ADMIN), name, "test.plain", EVERY_FIVE_MINUTES)

    assert refused.value.field == "name"
    assert await schedules_of(acme) == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_only_admins_create_schedules(acme, role):
    with pytest.raises(Forbidden):
        await create_schedule(acme.actor(role), "mine", "test.plain", EVERY_FIVE_MINUTES)

    assert await schedules_of(acme) == []


# ---------------------------------------------------------------- due runs


async def test_a_due_schedule_starts_once_even_when_dispatchers_race(acme):
    schedule = await make_due(
        await create_schedule(acme.actor(Role.ADMIN), "race", "test.plain", "0 3 * * *", {"records": 4})
    )

    started = await asyncio.gather(*(start_due_schedules() for _ in range(6)))

    runs = await runs_of(schedule)
    assert len(runs) == 1
    assert [job.id for batch in started for job in batch if job.schedule_id == schedule.id] == [runs[0].id]
    run = runs[0]
    assert (run.tenant_id, run.type, run.name, run.params, run.status) == (
        acme.tenant.id, "test.plain", "race", {"records": 4}, JobStatus.PENDING
    )
    await schedule.refresh_from_db()
    assert schedule.next_run_at > utcnow()
    assert (schedule.next_run_at.hour, schedule.next_run_at.minute) == (3, 0)
    assert schedule.last_run_at is not None
    assert [job.id for job in await last_runs(schedule.id)] == [run.id]


async def test_a_schedule_that_is_not_due_or_disabled_does_not_start(acme):
    admin = acme.actor(Role.ADMIN)
    later = await create_schedule(admin, "later", "test.plain", EVERY_FIVE_MINUTES)
    disabled = await create_schedule(admin, "off", "test.plain", EVERY_FIVE_MINUTES, enabled=False)
    await Schedule.filter(id=disabled.id).update(next_run_at=utcnow() - timedelta(minutes=1))

    await start_due_schedules()

    assert await runs_of(later) == []
    assert await runs_of(disabled) == []


async def test_a_started_run_is_not_started_again_by_the_next_round(acme):
    schedule = await make_due(
        await create_schedule(acme.actor(Role.ADMIN), "once", "test.plain", EVERY_FIVE_MINUTES)
    )

    await start_due_schedules()
    await start_due_schedules()

    assert len(await runs_of(schedule)) == 1


async def test_last_runs_are_newest_first(acme):
    admin = acme.actor(Role.ADMIN)
    schedule = await create_schedule(admin, "history", "test.plain", EVERY_FIVE_MINUTES)
    first = await run_schedule_now(admin, schedule.id)
    second = await run_schedule_now(admin, schedule.id)
    await make_due(schedule)
    [third] = [job for job in await start_due_schedules() if job.schedule_id == schedule.id]

    assert [job.id for job in await last_runs(schedule.id)] == [third.id, second.id, first.id]
    assert [job.id for job in await last_runs(schedule.id, limit=2)] == [third.id, second.id]


# ---------------------------------------------------------------- run now


async def test_an_admin_runs_a_schedule_now(acme):
    admin = acme.actor(Role.ADMIN)
    schedule = await create_schedule(admin, "now", "test.plain", "0 3 * * *", {"records": 2})
    next_run_at = schedule.next_run_at

    job = await run_schedule_now(admin, schedule.id)

    assert (job.schedule_id, job.name, job.params, job.status) == (
        schedule.id, "now", {"records": 2}, JobStatus.PENDING
    )
    await schedule.refresh_from_db()
    assert schedule.last_run_at is not None
    # Running now does not move the regular run.
    assert schedule.next_run_at == next_run_at
    assert [run.id for run in await last_runs(schedule.id)] == [job.id]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_run_now_needs_an_admin(acme, role):
    schedule = await create_schedule(acme.actor(Role.ADMIN), "guarded", "test.plain", EVERY_FIVE_MINUTES)

    with pytest.raises(Forbidden) as refused:
        await run_schedule_now(acme.actor(role), schedule.id)

    assert refused.value.code == "FORBIDDEN"
    assert await runs_of(schedule) == []


async def test_another_tenants_schedule_is_not_found(acme, make_tenant):
    other = await make_tenant()
    theirs = await create_schedule(other.actor(Role.ADMIN), "theirs", "test.plain", EVERY_FIVE_MINUTES)

    with pytest.raises(NotFound) as refused:
        await run_schedule_now(acme.actor(Role.ADMIN), theirs.id)

    assert refused.value.code == "NOT_FOUND"
    assert await runs_of(theirs) == []
    missing_id = theirs.id + 1_000_000
    with pytest.raises(NotFound) as missing:
        await run_schedule_now(acme.actor(Role.ADMIN), missing_id)
    # Indistinguishable from an id that does not exist.
    assert (refused.value.code, refused.value.message) == ("NOT_FOUND", f"schedule {theirs.id} not found")
    assert (missing.value.code, missing.value.message) == ("NOT_FOUND", f"schedule {missing_id} not found")
