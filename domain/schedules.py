"""Recurring jobs: a cron expression per schedule, started on time by the dispatcher."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from croniter import croniter
from tortoise.exceptions import IntegrityError

from domain.access import Actor, Role
from domain.clock import utcnow
from domain.errors import InvalidInput, JobtowerError, NotFound
from domain.jobs import MAX_NAME_LENGTH, StartJobRequest, start_job
from domain.models import Job, Schedule
from domain.registry import registry

log = logging.getLogger(__name__)

MAX_CRON_LENGTH = 100  # the column's width


def next_run(cron: str, after: datetime) -> datetime:
    return croniter(cron, after).get_next(datetime)


def _check_cron(cron: str) -> None:
    if len(cron) > MAX_CRON_LENGTH or not croniter.is_valid(cron):
        raise InvalidInput("cron", f"{cron[:MAX_CRON_LENGTH]!r} is not a valid cron expression")


def _check_name(name: str) -> None:
    if not name.strip():
        raise InvalidInput("name", "must not be blank")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("name", f"must be at most {MAX_NAME_LENGTH} characters")


async def create_schedule(
    actor: Actor, name: str, type: str, cron: str, params: Any = None, enabled: bool = True
) -> Schedule:
    actor.require(Role.ADMIN, "createSchedule")
    _check_name(name)
    _check_cron(cron)
    validated = registry.get(type).validate_params(params)
    try:
        return await Schedule.create(
            tenant_id=actor.tenant_id,
            name=name,
            type=type,
            params=validated,
            cron=cron,
            enabled=enabled,
            next_run_at=next_run(cron, utcnow()) if enabled else None,
        )
    except IntegrityError:
        raise InvalidInput("name", f"a schedule named {name!r} already exists") from None


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


async def run_schedule_now(actor: Actor, schedule_id: int) -> Job:
    schedule = await get_schedule(actor, schedule_id)
    actor.require(Role.ADMIN, "runScheduleNow")
    job = await _start(schedule, actor)
    await Schedule.filter(id=schedule.id).update(last_run_at=utcnow())
    return job


async def start_due_schedules() -> list[Job]:
    """Start every schedule whose time has come; each run is claimed once, even with two dispatchers."""
    now = utcnow()
    started = []
    for schedule in await Schedule.filter(enabled=True, next_run_at__lte=now):
        claimed = await Schedule.filter(id=schedule.id, next_run_at=schedule.next_run_at).update(
            next_run_at=next_run(schedule.cron, now), last_run_at=now
        )
        if not claimed:
            continue
        try:
            started.append(await _start(schedule, Actor.system(schedule.tenant_id)))
        except JobtowerError as refusal:  # e.g. the plan limit: this run is skipped
            log.warning("schedule %s did not start: %s", schedule.id, refusal.message)
    return started


async def _start(schedule: Schedule, actor: Actor) -> Job:
    return await start_job(
        actor,
        StartJobRequest(
            type=schedule.type, name=schedule.name, params=schedule.params, schedule_id=schedule.id
        ),
    )


async def last_runs(schedule_id: int, limit: int = 10) -> list[Job]:
    return await Job.filter(schedule_id=schedule_id).order_by("-created_at", "-id").limit(limit)
