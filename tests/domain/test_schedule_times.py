"""When a schedule runs next: its cron expression read on the wall clock of its time zone,
through the days the clocks change; enabling it, and deleting it while its runs stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.access import Role
from domain.clock import utcnow
from domain.models import Job, Schedule
from domain.schedules import (
    ScheduleChanges,
    create_schedule,
    delete_schedule,
    next_run,
    run_schedule_now,
    start_due_schedules,
    update_schedule,
)
from tests.domain.test_schedules import make_due, no_schedule_outlives_its_test  # noqa: F401  (autouse)

BERLIN = "Europe/Berlin"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def runs(cron: str, timezone: str, after: str, count: int) -> list[str]:
    """The next ``count`` runs after ``after`` (UTC), as UTC times, the way the dispatcher
    finds them: each from the moment the previous one started."""
    found, moment = [], utc(after)
    for _ in range(count):
        moment = next_run(cron, timezone, moment)
        found.append(moment.strftime("%m-%d %H:%M"))
    return found


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        # 09:00 in Berlin is 08:00 UTC before the clocks go forward on 29 March 2026, 07:00 after.
        ("0 9 * * *", "2026-03-27 12:00", ["03-28 08:00", "03-29 07:00", "03-30 07:00"]),
        # ... and 07:00 UTC until they go back on 25 October, 08:00 after.
        ("0 9 * * *", "2026-10-23 12:00", ["10-24 07:00", "10-25 08:00", "10-26 08:00"]),
        # 02:30 does not exist on 29 March: that run starts when the clocks reach 03:00 (01:00 UTC).
        ("30 2 * * *", "2026-03-28 12:00", ["03-29 01:00", "03-30 00:30"]),
        # 02:30 happens twice on 25 October (00:30 and 01:30 UTC): a daily run starts once.
        ("30 2 * * *", "2026-10-24 12:00", ["10-25 00:30", "10-26 01:30"]),
        # An hourly run keeps its pace through both passes of the repeated hour...
        ("0 * * * *", "2026-10-24 23:30", ["10-25 00:00", "10-25 01:00", "10-25 02:00", "10-25 03:00"]),
        # ... and runs at each hour the clocks show when they skip one.
        ("0 * * * *", "2026-03-28 23:30", ["03-29 00:00", "03-29 01:00", "03-29 02:00"]),
    ],
)
def test_a_berlin_schedule_runs_by_berlin_clocks_through_summer_time(cron, after, expected):
    assert runs(cron, BERLIN, after, len(expected)) == expected


def test_a_utc_schedule_ignores_summer_time():
    assert runs("0 9 * * *", "UTC", "2026-03-28 12:00", 2) == ["03-29 09:00", "03-30 09:00"]


async def test_deleting_a_schedule_keeps_the_jobs_it_started(acme):
    admin = acme.actor(Role.ADMIN)
    schedule = await create_schedule(admin, "kept", "test.plain", "0 3 * * *")
    by_hand = await run_schedule_now(admin, schedule.id)
    await make_due(schedule)
    [on_time] = [job for job in await start_due_schedules() if job.schedule_id == schedule.id]

    await delete_schedule(admin, schedule.id)

    assert not await Schedule.exists(id=schedule.id)
    kept = await Job.filter(id__in=[by_hand.id, on_time.id]).order_by("id").values_list("name", "schedule_id")
    assert kept == [("kept", None), ("kept", None)]


async def test_enabling_a_schedule_runs_it_next_at_its_time_from_now(acme):
    admin = acme.actor(Role.ADMIN)
    schedule = await create_schedule(admin, "later", "test.plain", "*/5 * * * *", enabled=False)
    before = utcnow()

    enabled = await update_schedule(admin, schedule.id, ScheduleChanges(enabled=True))

    assert before < enabled.next_run_at <= before + timedelta(minutes=5)
    assert enabled.next_run_at.minute % 5 == 0
