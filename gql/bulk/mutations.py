"""Starting and canceling bulk operations. Each mutation is one domain call; refusals come back typed."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain import bulk
from domain.errors import InvalidInput, JobtowerError
from domain.statuses import BulkAction
from gql.bulk.types import BulkOperationNode
from gql.context import Info
from gql.errors import ForbiddenError, InvalidInputError, InvalidTransitionError, NotFoundError, to_error
from gql.ids import from_global_id, parse_global_id
from gql.jobs.queries import JobFilter
from workers.bulk import announce


@strawberry.input(description="What to do, and to which jobs: exactly one of ids and filter.")
class StartBulkOperationInput:
    action: BulkAction
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=f"At most {bulk.MAX_IDS} job ids. Every id is one of the operation's jobs: an id of"
        " another tenant's job, or of none, ends among its errors as NOT_FOUND, as the single mutation"
        " answers it; a hidden job is acted on, as the single mutation does.",
    )
    filter: JobFilter | None = strawberry.field(
        default=None,
        description="The jobs jobs(filter:) lists for the viewer at this moment, hidden and system jobs as it"
        f" shows them (at most {bulk.MAX_FILTERED:,}; jobs created later are never touched).",
    )


@strawberry.type
class BulkOperationStarted:
    bulk_operation: BulkOperationNode


@strawberry.type
class BulkOperationCanceled:
    bulk_operation: BulkOperationNode


StartBulkOperationResult = Annotated[
    BulkOperationStarted | InvalidInputError | ForbiddenError | NotFoundError,
    strawberry.union("StartBulkOperationResult"),
]
CancelBulkOperationResult = Annotated[
    BulkOperationCanceled | NotFoundError | ForbiddenError | InvalidTransitionError,
    strawberry.union("CancelBulkOperationResult"),
]


def _job_ids(ids: list[strawberry.ID] | None) -> list[int] | None:
    if ids is None:
        return None
    parsed = []
    for value in ids:
        found = parse_global_id(value)
        if found is None or found[0] != "Job":
            raise InvalidInput("ids", f"{value[:40]!r} is not a job id")
        parsed.append(found[1])
    return parsed


@strawberry.type
class BulkMutations:
    @strawberry.mutation(
        description="Start applying action to many jobs in the background, and answer at once: the"
        " operation's total says how many jobs it chose. It needs the role the action's mutation needs"
        " (OPERATOR; ADMIN for SET_LOW_PRIORITY, REMOVE_LOW_PRIORITY and UNHIDE), else FORBIDDEN and"
        " nothing is created; INVALID_INPUT for neither or both of ids and filter, no ids, or too many."
    )
    async def start_bulk_operation(self, info: Info, input: StartBulkOperationInput) -> StartBulkOperationResult:
        try:
            operation = await bulk.start_bulk_operation(
                info.context.viewer,
                input.action,
                ids=_job_ids(input.ids),
                where=None if input.filter is None else input.filter.to_domain(),
            )
        except JobtowerError as error:
            return to_error(error)
        return BulkOperationStarted(bulk_operation=BulkOperationNode.of(operation))

    @strawberry.mutation(
        description="Cancel a PENDING or RUNNING bulk operation: no job is touched after this answers, and the"
        " jobs done keep what was done to them. Needs the role its action needs; INVALID_TRANSITION once it ended."
    )
    async def cancel_bulk_operation(self, info: Info, id: strawberry.ID) -> CancelBulkOperationResult:
        try:
            operation = await bulk.cancel_bulk_operation(info.context.viewer, from_global_id(id, "BulkOperation"))
        except JobtowerError as error:
            return to_error(error)
        await announce(info.context.redis, operation.id, operation.status)
        return BulkOperationCanceled(bulk_operation=BulkOperationNode.of(operation))
