"""Running a schedule now (admins)."""

from __future__ import annotations

from typing import Any

import strawberry

from domain.errors import JobtowerError
from domain.schedules import run_schedule_now
from gql.context import Info
from gql.errors import to_error
from gql.ids import from_global_id
from gql.jobs.mutations import JobStarted, StartJobResult
from gql.jobs.types import JobNode


@strawberry.type
class ScheduleMutations:
    @strawberry.mutation(description="Start one run of the schedule now; its timetable is unchanged.")
    async def run_schedule_now(self, info: Info, id: strawberry.ID) -> StartJobResult:
        result: Any
        try:
            job = await run_schedule_now(info.context.viewer, from_global_id(id, "Schedule"))
            result = JobStarted(job=JobNode.of(job))
        except JobtowerError as error:
            result = to_error(error)
        return result
