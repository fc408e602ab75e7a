"""Starting and canceling bulk operations. Each mutation is one domain call; refusals come back typed."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain import bulk
from domain.errors import JobtowerError
from gql.bulk.types import BulkOperationNode, StartBulkOperationInput
from gql.context import Info
from gql.errors import ForbiddenError, InvalidInputError, InvalidTransitionError, NotFoundError, to_error
from gql.ids import from_global_id
from workers.bulk import announce


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
                **input.chosen(),
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
