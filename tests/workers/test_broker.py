"""The task streams' listener, read as a worker's receivers read it: what it takes over from a
dead consumer, and how it ends when its worker drains."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from tests.cluster import wait_until
from workers import keys
from workers.broker import build_broker, send_enumeration
from workers.shared_metrics import MESSAGES_RECLAIMED


async def test_a_dead_consumers_message_is_taken_over_though_nothing_new_arrives(redis: Redis, redis_url: str):
    broker = build_broker(redis_url, keys.ENUMERATION_STREAM, redelivery_seconds=0.2)
    await broker.startup()
    try:
        await send_enumeration(broker, 7)
        # A consumer reads it and dies before acknowledging it; nothing else is ever sent.
        await redis.xreadgroup(keys.TASK_GROUP, "dead consumer", {keys.ENUMERATION_STREAM: ">"}, count=1)

        received = await asyncio.wait_for(_first(broker), timeout=10)

        assert _job_id(broker, received) == 7
        await received.ack()
        pending = await redis.xpending(keys.ENUMERATION_STREAM, keys.TASK_GROUP)
        assert pending["pending"] == 0
        counts = await MESSAGES_RECLAIMED.read(redis)
        assert counts == {keys.FREE_SLOT_STREAM: 0, keys.ENUMERATION_STREAM: 1, keys.BULK_STREAM: 0}
    finally:
        await broker.shutdown()


async def test_a_listener_told_to_stop_ends_at_once_and_leaves_later_messages_to_others(
    redis: Redis, redis_url: str
):
    broker = build_broker(redis_url, keys.ENUMERATION_STREAM)
    await broker.startup()
    try:
        listening = asyncio.create_task(_all(broker))
        await wait_until(lambda: _reading(redis), timeout=10, what="the listener to read")

        broker.stop_listening()
        asked = time.monotonic()
        received = await asyncio.wait_for(listening, timeout=5)
        took = time.monotonic() - asked
        await send_enumeration(broker, 8)

        # It did not wait out the read under way on the empty stream (its block, 1 s).
        assert took < broker.block / 1000, f"the listener ended {took:.1f} s after it was told to stop"
        assert received == []
        other = build_broker(redis_url, keys.ENUMERATION_STREAM)
        try:
            assert _job_id(other, await asyncio.wait_for(_first(other), timeout=5)) == 8
        finally:
            await other.shutdown()
    finally:
        await broker.shutdown()


async def _reading(redis: Redis) -> bool:
    return any(client["cmd"] == "xreadgroup" for client in await redis.client_list())


async def _first(broker: Any) -> Any:
    async for message in broker.listen():
        return message
    raise AssertionError("the listener ended without a message")


async def _all(broker: Any) -> list[Any]:
    return [message async for message in broker.listen()]


def _job_id(broker: Any, message: Any) -> int:
    return broker.formatter.loads(message.data).args[0]
