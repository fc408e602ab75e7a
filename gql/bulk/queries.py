"""Reading bulk operations: one by id, and the viewer's list."""

from __future__ import annotations

import strawberry

from domain import bulk
from domain.errors import NotFound
from gql.bulk.types import BulkOperationNode, BulkPreview, StartBulkOperationInput
from gql.context import Info
from gql.ids import from_global_id
from gql.node import Connection
from gql.scalars import BigInt


@strawberry.type
class BulkQueries:
    @strawberry.field(description="A bulk operation, as node(id) finds it: null for another tenant's.")
    async def bulk_operation(self, info: Info, id: strawberry.ID) -> BulkOperationNode | None:
        info.context.viewer  # noqa: B018 - authenticated before anything is read
        try:
            operation = await info.context.loaders.bulk_operation.load(from_global_id(id, "BulkOperation"))
        except NotFound:  # a malformed id reads as a missing operation
            return None
        return BulkOperationNode.of(operation) if operation else None

    @strawberry.field(
        description="How many jobs startBulkOperation with this input would choose now, and how many of them"
        " its action may change: what to tell before starting it. Refused as the mutation refuses the input"
        " (FORBIDDEN, BAD_USER_INPUT), here as a query's error."
    )
    async def bulk_preview(self, info: Info, input: StartBulkOperationInput) -> BulkPreview:
        preview = await bulk.preview_bulk_operation(info.context.viewer, input.action, **input.chosen())
        return BulkPreview(total=BigInt(preview.total), eligible=BigInt(preview.eligible))

    @strawberry.field(
        description="The bulk operations started in the viewer's tenant (every tenant's for PLATFORM), newest first."
    )
    async def bulk_operations(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[BulkOperationNode]:
        listed = await bulk.list_bulk_operations(info.context.viewer, first, after)
        page = listed.page
        for operation in page.items:
            info.context.loaders.bulk_operation.prime(operation.id, operation)
        return Connection.of(
            [BulkOperationNode.of(operation) for operation in page.items], page.cursors, page.has_next, listed.total_count
        )
