"""Reading schedules."""

from __future__ import annotations

import strawberry

from domain.schedules import list_schedules
from gql.context import Info
from gql.schedules.types import ScheduleNode


@strawberry.type
class ScheduleQueries:
    @strawberry.field(description="The tenant's schedules by name; those of system job types only for admins.")
    async def schedules(self, info: Info) -> list[ScheduleNode]:
        return [ScheduleNode.of(schedule) for schedule in await list_schedules(info.context.viewer)]
