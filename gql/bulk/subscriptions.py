"""``bulkOperationUpdated``: a bulk operation as it advances, until it ends.

The operation is read from the database, the same row a query reads. Redis only
says when to look: the worker running the operation adds a prompt to the
operation's stream after every batch and when it ends, and so does the API when
someone cancels it. A subscriber reads the operation once its mailbox exists, so
nothing that happens after that read is missed; after a Redis outage it reads
again.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import strawberry

from domain.bulk import get_bulk_operation
from domain.errors import NotFound
from domain.models import BulkOperation
from domain.statuses import BULK_OPEN
from gql.bulk.types import BulkOperationNode
from gql.context import Info
from gql.ids import from_global_id
from workers import keys
from workers.streams import BULK_UPDATES, StreamHub


async def operation_states(hub: StreamHub, operation_id: int) -> AsyncIterator[BulkOperation]:
    """The operation now, then each time its status or progress changed, until it ended."""
    mailbox = await hub.subscribe({keys.bulk_operation_updates(operation_id): BULK_UPDATES})
    try:
        shown = None
        while True:
            current = await BulkOperation.get_or_none(id=operation_id)
            if current is None:
                return
            if (current.status, current.done) != shown:
                shown = (current.status, current.done)
                yield current
            if current.status not in BULK_OPEN:
                return
            await mailbox.take()
    finally:
        mailbox.close()


@strawberry.type
class BulkSubscriptions:
    @strawberry.subscription(
        description="The bulk operation as it is now, then again each time it advances (after every batch of"
        " jobs), until it ends: the last one delivered is COMPLETED or CANCELED, then the subscription completes."
    )
    async def bulk_operation_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[BulkOperationNode, None]:
        try:
            operation = await get_bulk_operation(info.context.viewer, from_global_id(id, "BulkOperation"))
        except NotFound:
            # Said with the id as the client sent it: another tenant's reads as one that does not exist.
            raise NotFound("bulk operation", id) from None
        async for current in operation_states(info.context.streams, operation.id):
            info.context.refresh()
            yield BulkOperationNode.of(current)
