"""Dispatcher wake-ups on Redis pub/sub: work announced ready (``domain.wakeups``) is handed out at once.

A wake-up carries nothing and names no work: the dispatcher that hears it runs the
hand-out part of its round, which reads what is ready from the database. One that
is missed (no dispatcher subscribed, Redis restarting) only leaves the work for the
dispatcher's next round, as if there were no wake-ups.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from domain.wakeups import announce_with
from workers import keys

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


async def wake_dispatcher(redis: Redis) -> None:
    try:
        await redis.publish(keys.DISPATCHER_WAKEUPS, b"")
    except Exception as error:  # the work is found by the next round: a verb never fails for this
        log.warning("could not wake the dispatcher: %s", error)


@asynccontextmanager
async def announcing(redis: Redis, enabled: bool = True) -> AsyncIterator[None]:
    """For as long as the block runs, work this process makes ready wakes the dispatcher.

    ``enabled`` off (``dispatch_wakeups``) leaves every hand-out to the dispatcher's rounds.
    """
    if not enabled:
        yield
        return

    async def announce() -> None:
        await wake_dispatcher(redis)

    previous = announce_with(announce)
    try:
        yield
    finally:
        announce_with(previous)


async def listen_for_wakeups(redis: Redis, woken: asyncio.Event) -> None:
    """Set ``woken`` at every wake-up, and on each (re)subscription: wake-ups sent while
    this was not subscribed are lost, and the work they announced may be ready now."""
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(keys.DISPATCHER_WAKEUPS)
                async for message in pubsub.listen():
                    if message["type"] in ("message", "subscribe"):
                        woken.set()
        except Exception as error:  # Redis restarting: subscribe again
            log.warning("dispatcher wake-ups lost Redis (%s); subscribing again", error)
            await asyncio.sleep(RECONNECT_SECONDS)
