"""``liveStatus``: whether live events reach this API process's subscriptions.

Every subscription's events are read from Redis streams by the process's one reader
(``workers.streams``). While Redis cannot be read, the other subscriptions stay open but
receive nothing, so a live screen asks here whether to call itself live. Once the reader
reads again, they catch up from the database, and so does a screen that queries what it
shows.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from gql.context import Info


@strawberry.type
class LiveStatus:
    events_flowing: bool = strawberry.field(
        description="False while the event streams cannot be read (Redis is unreachable): no subscription "
        "receives anything until it is true again, and then they catch up."
    )


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(
        description="Whether live events reach this API process's subscriptions now, then again each time that changes."
    )
    async def live_status(self, info: Info) -> AsyncGenerator[LiveStatus, None]:
        context = info.context
        context.viewer  # a signed-in principal's, like every subscription
        async for flowing in context.streams.readable_changes():
            yield LiveStatus(events_flowing=flowing)
