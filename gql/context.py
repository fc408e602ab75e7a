"""The per-request GraphQL context: who asks, the loaders, and live facts computed once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from strawberry.types import Info as StrawberryInfo

from domain.access import Actor
from domain.clock import utcnow
from domain.errors import Unauthenticated
from domain.scheduling import in_flight
from gql.loaders import Loaders
from gql.timing import OperationObserver
from workers.streams import StreamHub, hub_for
from workers.dispatcher import live_worker_slots


@dataclass
class Context:
    redis: Redis
    request: Any = None
    response: Any = None
    # Set from the bearer token (HTTP) or the connection_init payload (WebSocket).
    actor: Actor | None = None
    # The connection_init payload of a WebSocket client, and the token it authenticated with,
    # which the connection checks again while it lives (gql.websocket).
    connection_params: Any = None
    token: str | None = None
    # Where the time each query and mutation took goes (gql.timing): the app's metrics.
    observe_operation: OperationObserver | None = None
    _loaders: Loaders | None = None
    _now: datetime | None = None
    # Live workers and the chunk slots they offer, and the roots with work in flight: read once
    # per answer, by the first of the resolvers that ask at once, for all of them.
    _workers: asyncio.Future[tuple[int, int]] | None = None
    _busy_roots: asyncio.Future[set[int]] | None = None
    # What a subscription event already read, for the loaders when a resolver first needs them.
    _primes: tuple[Callable[[Loaders], None], ...] = ()

    @property
    def viewer(self) -> Actor:
        if self.actor is None:
            raise Unauthenticated()
        return self.actor

    @property
    def now(self) -> datetime:
        """One "now" per answer, so every live figure in it agrees. Read when the first figure
        needs it, after the rows it is measured against were written and read: a job created by
        this very request (startJob) never shows a negative waiting time."""
        if self._now is None:
            self._now = utcnow()
        return self._now

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.viewer, worker_slots=self.worker_slots, now=lambda: self.now)
            for prime in self._primes:
                prime(self._loaders)
        return self._loaders

    @property
    def streams(self) -> StreamHub:
        """This process's reader of the Redis event streams, shared by every subscription."""
        return hub_for(self.redis)

    def refresh(self, *primes: Callable[[Loaders], None]) -> None:
        """Answer the next subscription event like a new request: fresh loaders, a new "now".

        A WebSocket connection keeps one context for all its subscriptions, and
        loaders cache what they read. ``primes`` hand the new loaders what the
        event already read; they are built only if a resolver needs them.
        """
        self._loaders = None
        self._primes = primes
        self._now = None
        self._workers = None
        self._busy_roots = None

    async def workers_online(self) -> int:
        return (await self._live_workers())[0]

    async def worker_slots(self) -> int:
        """The chunk slots the live workers offer."""
        return (await self._live_workers())[1]

    async def _live_workers(self) -> tuple[int, int]:
        if self._workers is None:
            self._workers = asyncio.ensure_future(live_worker_slots(self.redis))
        return await asyncio.shield(self._workers)

    async def busy_roots(self) -> set[int]:
        """Root jobs with work in flight right now."""
        if self._busy_roots is None:
            self._busy_roots = asyncio.ensure_future(_busy_roots())
        return await asyncio.shield(self._busy_roots)


async def _busy_roots() -> set[int]:
    busy = await in_flight()
    return {root for root, count in busy.by_root.items() if count}


Info = StrawberryInfo[Context, None]
