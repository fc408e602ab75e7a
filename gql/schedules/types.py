"""Schedules: a recurring job type with its cron, time zone, next run and last runs."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import models
from domain.access import ActorKind
from domain.listing import page_size
from domain.schedules import SCHEDULER, describe_cron, next_run_local
from gql.context import Info
from gql.ids import to_global_id
from gql.jobs.events import JobEventActor
from gql.jobs.types import JobNode
from gql.loaders import load_page
from gql.node import Node
from gql.scalars import JSON

LAST_RUNS = 10


@strawberry.type(description="A job a schedule started: on time, or when an admin ran it now.")
class ScheduleRun:
    job: JobNode = strawberry.field(description="The run itself: its status, outcome, timings and logs.")

    @strawberry.field(
        description=f"Kind SYSTEM, name {SCHEDULER!r} for a run the scheduler started on time;"
        " otherwise the admin (USER or BOT) who ran it now, also the job's runBy."
    )
    async def started_by(self, info: Info) -> JobEventActor:
        if self.job.model.run_by_id is None:
            return JobEventActor(kind=ActorKind.SYSTEM, name=SCHEDULER)
        principal = await info.context.loaders.principal.load(self.job.model.run_by_id)
        return JobEventActor(kind=ActorKind.of_principal(principal.kind), name=principal.name)


@strawberry.type(name="Schedule")
class ScheduleNode(Node):
    model: strawberry.Private[models.Schedule]

    @classmethod
    def of(cls, schedule: models.Schedule) -> ScheduleNode:
        return cls(id=to_global_id("Schedule", schedule.id), model=schedule)

    @strawberry.field(description="Also the name of each job it starts; unique in the tenant.")
    def name(self) -> str:
        return self.model.name

    @strawberry.field(description="The job type each run starts.")
    def type(self) -> str:
        return self.model.type

    @strawberry.field(description="The params each run starts with, as the job type's paramsSchema accepts them.")
    def params(self) -> JSON:
        return self.model.params

    @strawberry.field(
        description="When runs start: five fields (minute hour day-of-month month day-of-week), read on"
        " the wall clock of timezone."
    )
    def cron(self) -> str:
        return self.model.cron

    @strawberry.field(
        description="The IANA time zone the cron expression is read in, e.g. Europe/Berlin. When the"
        " clocks go forward, a time they skip runs at the first minute after the gap; in the hour that"
        " repeats when they go back, an expression naming its hours runs once, and one for every hour"
        " (* or */n) keeps its pace."
    )
    def timezone(self) -> str:
        return self.model.timezone

    @strawberry.field(
        description="The cron expression in English words, on a 24-hour clock in timezone,"
        " e.g. 'At 09:00, Monday through Friday'; null when it has none."
    )
    def cron_description(self) -> str | None:
        return describe_cron(self.model.cron)

    @strawberry.field(description="Disabled schedules are not started on time; runScheduleNow still runs them.")
    def enabled(self) -> bool:
        return self.model.enabled

    @strawberry.field(description="The next run on time, in UTC; null while the schedule is disabled.")
    def next_run_at(self) -> datetime | None:
        return self.model.next_run_at

    @strawberry.field(
        description="nextRunAt on the wall clock of timezone, as ISO 8601 with the zone's offset at"
        " that moment, e.g. 2027-03-30T09:00:00+02:00; null while the schedule is disabled."
    )
    def next_run_at_local(self) -> str | None:
        local = next_run_local(self.model)
        return local.isoformat() if local is not None else None

    @strawberry.field(description="When a run last started, on time or by runScheduleNow.")
    def last_run_at(self) -> datetime | None:
        return self.model.last_run_at

    @strawberry.field(description="The jobs it started, newest first, as the asker may see them.")
    async def last_runs(self, info: Info, first: int = LAST_RUNS) -> list[ScheduleRun]:
        loaders = info.context.loaders
        jobs, _ = await load_page(loaders.schedule_runs, self.model.id, page_size(first), None)
        for job in jobs:
            loaders.job.prime(job.id, job)
        return [ScheduleRun(job=JobNode.of(job)) for job in jobs]
