"""Schedules: a recurring job type with its cron, next run and last runs."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import models
from domain.listing import page_size
from gql.context import Info
from gql.ids import to_global_id
from gql.jobs.types import JobNode
from gql.loaders import load_page
from gql.node import Node
from gql.scalars import JSON

LAST_RUNS = 10


@strawberry.type(name="Schedule")
class ScheduleNode(Node):
    model: strawberry.Private[models.Schedule]

    @classmethod
    def of(cls, schedule: models.Schedule) -> ScheduleNode:
        return cls(id=to_global_id("Schedule", schedule.id), model=schedule)

    @strawberry.field
    def name(self) -> str:
        return self.model.name

    @strawberry.field(description="The job type each run starts.")
    def type(self) -> str:
        return self.model.type

    @strawberry.field
    def params(self) -> JSON:
        return self.model.params

    @strawberry.field(description="When runs start, as a five-field cron expression (UTC).")
    def cron(self) -> str:
        return self.model.cron

    @strawberry.field
    def enabled(self) -> bool:
        return self.model.enabled

    @strawberry.field(description="Null while the schedule is disabled.")
    def next_run_at(self) -> datetime | None:
        return self.model.next_run_at

    @strawberry.field
    def last_run_at(self) -> datetime | None:
        return self.model.last_run_at

    @strawberry.field(description="The jobs it started, newest first.")
    async def last_runs(self, info: Info, first: int = LAST_RUNS) -> list[JobNode]:
        loaders = info.context.loaders
        jobs, _ = await load_page(loaders.schedule_runs, self.model.id, page_size(first), None)
        for job in jobs:
            loaders.job.prime(job.id, job)
        return [JobNode.of(job) for job in jobs]
