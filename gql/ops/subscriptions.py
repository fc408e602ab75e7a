"""``liveOps``: the live-ops summary now, and again whenever it changes.

The figures are the ``liveOps`` query's (``domain.liveops.LiveOpsFigures``), all
of them read, whichever the subscriber asked for: it is told of a change in any. They are
worked out again after the subscriber's tenants' job events (read from their
streams by the process's one reader), at most once a second however busy they
are, and every few seconds anyway: stalled jobs, live workers and the queue
change without a job event. A subscriber hears only of changes. Subscribers who
see the same jobs share one computation per second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import strawberry

from domain.access import Actor
from domain.liveops import LiveOps, LiveOpsFigures
from domain.models import Tenant
from gql.context import Context, Info
from gql.ops.types import LiveOpsSummary
from workers import keys
from workers.streams import JOB_EVENTS

MIN_INTERVAL_SECONDS = 1.0
REFRESH_SECONDS = 5.0


async def _summary(context: Context, actor: Actor) -> LiveOpsFigures:
    """What this second's figures are for everybody who sees what ``actor`` sees, all of them
    read: a subscriber is told of a change in any."""
    audience = (None if actor.is_platform else actor.tenant_id, actor.sees_system_jobs)
    key = ("liveOps", audience, int(time.monotonic() / MIN_INTERVAL_SECONDS))

    async def compute(keys: list[tuple]) -> dict[tuple, LiveOpsFigures]:
        context.refresh()
        figures = LiveOpsFigures(actor, await context.workers_online(), context.now)
        await figures.summary()
        return dict.fromkeys(keys, figures)

    return (await context.streams.shared.get_many([key], compute))[key]


@strawberry.type
class OpsSubscriptions:
    @strawberry.subscription(
        description="The live-ops summary, then again whenever it changes (looked at after job "
        "events, at most once a second, and every few seconds)."
    )
    async def live_ops(self, info: Info) -> AsyncGenerator[LiveOpsSummary, None]:
        context = info.context
        actor = context.viewer
        tenants = (
            list(await Tenant.all().values_list("id", flat=True)) if actor.is_platform else [actor.tenant_id]
        )
        mailbox = await context.streams.subscribe(dict.fromkeys(map(keys.tenant_events, tenants), JOB_EVENTS))
        try:
            last: LiveOps | None = None
            while True:
                figures = await _summary(context, actor)
                summary = await figures.summary()
                if summary != last:
                    last = summary
                    # Its listed jobs are read as they are now, not from an earlier event's loaders.
                    context.refresh()
                    yield LiveOpsSummary(figures=figures)
                await asyncio.sleep(MIN_INTERVAL_SECONDS)  # the rate limit, not a wait for something
                try:
                    await asyncio.wait_for(mailbox.take(), REFRESH_SECONDS - MIN_INTERVAL_SECONDS)
                except TimeoutError:
                    pass
        finally:
            mailbox.close()
