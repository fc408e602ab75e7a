"""Managing schedules and running one now: ADMIN only. Each mutation is one domain verb;
refusals come back typed, and a refused request changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from domain import schedules
from domain.errors import JobtowerError
from domain.models import Schedule
from gql.context import Info
from gql.errors import ForbiddenError, InvalidInputError, NotFoundError, UnknownJobTypeError, to_error
from gql.ids import from_global_id
from gql.jobs.mutations import JobStarted, StartJobResult
from gql.jobs.types import JobNode
from gql.scalars import JSON
from gql.schedules.types import ScheduleNode


@strawberry.type
class ScheduleOperationSuccess:
    schedule: ScheduleNode


@strawberry.type
class ScheduleDeleted:
    id: strawberry.ID = strawberry.field(description="The id the deleted schedule had.")


ScheduleOperationResult = Annotated[
    ScheduleOperationSuccess | NotFoundError | ForbiddenError | InvalidInputError | UnknownJobTypeError,
    strawberry.union("ScheduleOperationResult"),
]
DeleteScheduleResult = Annotated[
    ScheduleDeleted | NotFoundError | ForbiddenError,
    strawberry.union("DeleteScheduleResult"),
]


@strawberry.input
class CreateScheduleInput:
    name: str = strawberry.field(description="Unique in the tenant; also the name of each run. At most 200 characters.")
    type: str = strawberry.field(description="The job type to start: any the caller may start, system types too.")
    cron: str = strawberry.field(description="Five fields: minute hour day-of-month month day-of-week.")
    timezone: str = strawberry.field(default=schedules.DEFAULT_TIMEZONE, description="An IANA time zone.")
    params: JSON | None = strawberry.field(default=None, description="Checked against the type's paramsSchema.")
    enabled: bool = True


@strawberry.input(description="Only the fields given change; a field left out or null stays as it is.")
class UpdateScheduleInput:
    name: str | None = None
    type: str | None = strawberry.field(
        default=None, description="The params (new or kept) are checked against the new type's paramsSchema."
    )
    cron: str | None = strawberry.field(default=None, description="A new cron or timezone recomputes nextRunAt.")
    timezone: str | None = None
    params: JSON | None = strawberry.field(default=None, description="Replaces the params whole; {} clears them.")
    enabled: bool | None = None


async def _operated(call: Callable[[], Awaitable[Schedule]]) -> Any:
    try:
        return ScheduleOperationSuccess(schedule=ScheduleNode.of(await call()))
    except JobtowerError as error:
        return to_error(error)


@strawberry.type
class ScheduleMutations:
    @strawberry.mutation(description="ADMIN only. A new schedule of the caller's tenant.")
    async def create_schedule(self, info: Info, input: CreateScheduleInput) -> ScheduleOperationResult:
        return await _operated(
            lambda: schedules.create_schedule(
                info.context.viewer,
                name=input.name,
                type=input.type,
                cron=input.cron,
                params=input.params,
                enabled=input.enabled,
                timezone=input.timezone,
            )
        )

    @strawberry.mutation(description="ADMIN only. Changes any of the schedule's fields at once, or none when one is refused.")
    async def update_schedule(
        self, info: Info, id: strawberry.ID, input: UpdateScheduleInput
    ) -> ScheduleOperationResult:
        changes = schedules.ScheduleChanges(
            name=input.name,
            type=input.type,
            cron=input.cron,
            timezone=input.timezone,
            params=input.params,
            enabled=input.enabled,
        )
        return await _operated(
            lambda: schedules.update_schedule(info.context.viewer, from_global_id(id, "Schedule"), changes)
        )

    @strawberry.mutation(
        description="ADMIN only. A disabled schedule is not started on time (nextRunAt is null);"
        " enabling it computes its next run from now."
    )
    async def set_schedule_enabled(self, info: Info, id: strawberry.ID, enabled: bool) -> ScheduleOperationResult:
        return await _operated(
            lambda: schedules.set_schedule_enabled(info.context.viewer, from_global_id(id, "Schedule"), enabled)
        )

    @strawberry.mutation(
        description="ADMIN only. The jobs it started are kept, with their logs, no longer linked to a schedule."
    )
    async def delete_schedule(self, info: Info, id: strawberry.ID) -> DeleteScheduleResult:
        result: Any
        try:
            await schedules.delete_schedule(info.context.viewer, from_global_id(id, "Schedule"))
            result = ScheduleDeleted(id=id)
        except JobtowerError as error:
            result = to_error(error)
        return result

    @strawberry.mutation(description="ADMIN only. Start one run of the schedule now; its timetable is unchanged.")
    async def run_schedule_now(self, info: Info, id: strawberry.ID) -> StartJobResult:
        result: Any
        try:
            job = await schedules.run_schedule_now(info.context.viewer, from_global_id(id, "Schedule"))
            result = JobStarted(job=JobNode.of(job))
        except JobtowerError as error:
            result = to_error(error)
        return result
