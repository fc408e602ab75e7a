"""Recurring jobs: a cron expression read on the wall clock of a time zone, started on time by
the dispatcher.

Admins create, change, enable, disable and delete schedules; every tenant member reads them
(schedules of system job types only admins, who alone see the jobs they start). A refusal is a
typed error raised before anything is written. A schedule's runs are jobs, linked to it; they
outlive it, unlinked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from cron_descriptor import ExpressionDescriptor, FormatException, MissingFieldException, WrongArgumentException
from croniter import CroniterError, croniter
from tortoise.exceptions import IntegrityError

from domain import db
from domain.access import Actor, Role
from domain.clock import utcnow
from domain.errors import InvalidInput, JobtowerError, NotFound
from domain.inputs import check_name
from domain.jobs import StartJobRequest, start_job
from domain.models import Job, Schedule
from domain.registry import registry

log = logging.getLogger(__name__)

MAX_CRON_LENGTH = 100  # the column's width
MAX_TIMEZONE_LENGTH = 64  # the column's width; IANA names are at most half as long
CRON_FIELDS = 5  # minute hour day-of-month month day-of-week: no seconds, no years
DEFAULT_TIMEZONE = "UTC"
# The name a run started on time carries in its job's history and as the schedule run's starter.
SCHEDULER = "scheduler"


@dataclass(frozen=True)
class ScheduleChanges:
    """What an update changes; a field left ``None`` stays as it is."""

    name: str | None = None
    type: str | None = None
    cron: str | None = None
    timezone: str | None = None
    params: Any = None
    enabled: bool | None = None


# ---------------------------------------------------------------- time


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """The first run after ``after``, in UTC, with ``cron`` read on the wall clock of ``timezone``.

    Across a change of the clocks it does what the classic cron daemons do: a time the clocks
    skip runs at the first minute after the gap; in the hour that repeats, an expression that
    names its hours runs once, in the first pass (a daily report is not sent twice), while one
    for every hour (``*`` or ``*/n``) keeps its pace through both passes.
    """
    runs = croniter(cron, after.astimezone(ZoneInfo(timezone)))
    run = runs.get_next(datetime)
    if not _every_hour(cron):
        while _second_pass(run):
            run = runs.get_next(datetime)
    return run.astimezone(UTC)


def _every_hour(cron: str) -> bool:
    return cron.split()[1].startswith("*")


def _second_pass(moment: datetime) -> bool:
    """``moment`` is a wall-clock time the clocks show a second time, after going back."""
    return moment.fold == 1 and moment.utcoffset() != moment.replace(fold=0).utcoffset()


def next_run_local(schedule: Schedule) -> datetime | None:
    """The next run on the schedule's own wall clock, with that zone's offset at the time."""
    if schedule.next_run_at is None:
        return None
    return schedule.next_run_at.astimezone(ZoneInfo(schedule.timezone))


def describe_cron(cron: str) -> str | None:
    """The expression in English words (24-hour clock), or None for one the describer cannot read."""
    try:
        return ExpressionDescriptor(cron, use_24hour_time_format=True).get_description()
    except (FormatException, MissingFieldException, WrongArgumentException):
        return None


# ---------------------------------------------------------------- checks


@cache
def _zones() -> frozenset[str]:
    # Looked up in this set, never opened by name: a key is never a path to a file.
    return frozenset(available_timezones())


def _check_timezone(timezone: str) -> None:
    if timezone not in _zones():
        raise InvalidInput("timezone", f"{timezone[:MAX_TIMEZONE_LENGTH]!r} is not an IANA time zone such as Europe/Berlin")


def _check_cron(cron: str, timezone: str) -> None:
    """A five-field expression that comes due at least once more."""
    if len(cron) > MAX_CRON_LENGTH or len(cron.split()) != CRON_FIELDS or not croniter.is_valid(cron):
        raise InvalidInput(
            "cron",
            f"{cron[:MAX_CRON_LENGTH]!r} is not a cron expression of five fields"
            " (minute hour day-of-month month day-of-week)",
        )
    try:
        next_run(cron, timezone, utcnow())
    except CroniterError:
        raise InvalidInput("cron", f"{cron!r} never comes due") from None


# ---------------------------------------------------------------- managing


async def create_schedule(
    actor: Actor,
    name: str,
    type: str,
    cron: str,
    params: Any = None,
    enabled: bool = True,
    timezone: str = DEFAULT_TIMEZONE,
) -> Schedule:
    """A new schedule of the actor's tenant. Any job type an admin may start, system types too."""
    actor.require(Role.ADMIN, "createSchedule")
    check_name(name)
    _check_timezone(timezone)
    _check_cron(cron, timezone)
    job_type = registry.get(type)
    validated = job_type.validate_params(params)
    try:
        return await Schedule.create(
            tenant_id=actor.tenant_id,
            name=name,
            type=job_type.name,
            params=validated,
            cron=cron,
            timezone=timezone,
            enabled=enabled,
            next_run_at=next_run(cron, timezone, utcnow()) if enabled else None,
        )
    except IntegrityError:
        raise InvalidInput("name", f"a schedule named {name!r} already exists") from None


async def update_schedule(actor: Actor, schedule_id: int, changes: ScheduleChanges) -> Schedule:
    return await _change(actor, schedule_id, changes, "updateSchedule")


async def set_schedule_enabled(actor: Actor, schedule_id: int, enabled: bool) -> Schedule:
    return await _change(actor, schedule_id, ScheduleChanges(enabled=enabled), "setScheduleEnabled")


async def _change(actor: Actor, schedule_id: int, changes: ScheduleChanges, action: str) -> Schedule:
    """Checks only what changes (a schedule whose job type is gone can still be disabled), and
    recomputes the next run when the timing changes: a new cron or zone, or enabling it."""
    schedule = await get_schedule(actor, schedule_id)
    actor.require(Role.ADMIN, action)
    updates: dict[str, Any] = {}
    if changes.name is not None:
        check_name(changes.name)
        updates["name"] = changes.name
    if changes.timezone is not None:
        _check_timezone(changes.timezone)
        updates["timezone"] = changes.timezone
    cron = changes.cron if changes.cron is not None else schedule.cron
    timezone = updates.get("timezone", schedule.timezone)
    if changes.cron is not None or changes.timezone is not None:
        _check_cron(cron, timezone)
        updates["cron"] = cron
    if changes.type is not None or changes.params is not None:
        # The params are checked against the type the schedule will have.
        job_type = registry.get(changes.type if changes.type is not None else schedule.type)
        updates["type"] = job_type.name
        updates["params"] = job_type.validate_params(changes.params if changes.params is not None else schedule.params)
    enabled = changes.enabled if changes.enabled is not None else schedule.enabled
    updates["enabled"] = enabled
    if "cron" in updates or enabled != schedule.enabled:
        updates["next_run_at"] = next_run(cron, timezone, utcnow()) if enabled else None
    try:
        await Schedule.filter(id=schedule.id).update(**updates)
    except IntegrityError:
        raise InvalidInput("name", f"a schedule named {changes.name!r} already exists") from None
    await schedule.refresh_from_db()
    return schedule


async def delete_schedule(actor: Actor, schedule_id: int) -> Schedule:
    """Deletes the schedule and keeps the jobs it started, no longer linked to it.

    The runs are unlinked here rather than by the foreign key's ``SET NULL`` alone: SQLite's
    constraint still cascades (see migration 0008).
    """
    schedule = await get_schedule(actor, schedule_id)
    actor.require(Role.ADMIN, "deleteSchedule")
    async with db.transaction():
        await Job.filter(schedule_id=schedule.id).update(schedule_id=None)
        await Schedule.filter(id=schedule.id).delete()
    return schedule


# ---------------------------------------------------------------- reading


def visible_schedules(actor: Actor):  # noqa: ANN201 - a QuerySet[Schedule]
    """The actor's tenant's schedules (all for platform); schedules of system job types only
    for admins, who alone see the jobs they start."""
    schedules = Schedule.all()
    if not actor.is_platform:
        schedules = schedules.filter(tenant_id=actor.tenant_id)
    if not actor.sees_system_jobs:
        schedules = schedules.exclude(type__in=[t.name for t in registry.all() if t.system])
    return schedules


async def list_schedules(actor: Actor) -> list[Schedule]:
    return await visible_schedules(actor).order_by("name", "id")


async def get_schedule(actor: Actor, schedule_id: int) -> Schedule:
    schedule = await visible_schedules(actor).get_or_none(id=schedule_id)
    if schedule is None:
        raise NotFound("schedule", schedule_id)
    return schedule


async def last_runs(schedule_id: int, limit: int = 10) -> list[Job]:
    return await Job.filter(schedule_id=schedule_id).order_by("-created_at", "-id").limit(limit)


# ---------------------------------------------------------------- running


def scheduler(tenant_id: int) -> Actor:
    """The platform starting a tenant's schedule on time."""
    return replace(Actor.system(tenant_id), name=SCHEDULER)


async def run_schedule_now(actor: Actor, schedule_id: int) -> Job:
    schedule = await get_schedule(actor, schedule_id)
    actor.require(Role.ADMIN, "runScheduleNow")
    job = await _start(schedule, actor)
    await Schedule.filter(id=schedule.id).update(last_run_at=utcnow())
    return job


async def start_due_schedules() -> list[Job]:
    """Start every enabled schedule whose time has come; each run is claimed once, even with two
    dispatchers, and never by a dispatcher that read the schedule before its timing changed."""
    now = utcnow()
    started = []
    for schedule in await Schedule.filter(enabled=True, next_run_at__lte=now):
        claimed = await Schedule.filter(
            id=schedule.id, next_run_at=schedule.next_run_at, cron=schedule.cron, timezone=schedule.timezone
        ).update(next_run_at=next_run(schedule.cron, schedule.timezone, now), last_run_at=now)
        if not claimed:
            continue
        try:
            started.append(await _start(schedule, scheduler(schedule.tenant_id)))
        except JobtowerError as refusal:  # e.g. the plan limit: this run is skipped
            log.warning("schedule %s did not start: %s", schedule.id, refusal.message)
    return started


async def _start(schedule: Schedule, actor: Actor) -> Job:
    request = StartJobRequest(type=schedule.type, name=schedule.name, params=schedule.params, schedule_id=schedule.id)
    try:
        return await start_job(actor, request)
    except IntegrityError:
        # Deleted between reading it and linking its run to it.
        if await Schedule.exists(id=schedule.id):
            raise
        raise NotFound("schedule", schedule.id) from None
