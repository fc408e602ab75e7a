"""The Taskiq brokers: Redis streams, sturdy across Redis restarts, and the messages they carry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from domain.scheduling import count_ready_chunks, in_flight
from workers import keys
from workers.redis_client import RETRYING
from workers.shared_metrics import MESSAGES_RECLAIMED
from workers.tasks import ENUMERATE_JOB, FREE_SLOT, RUN_BULK_OPERATION, register_tasks

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


class JobtowerBroker(RedisStreamBroker):
    """A stream broker that keeps listening when Redis restarts or loses its data, and counts
    the messages it takes over from a consumer that died holding them (``MESSAGES_RECLAIMED``).

    Losing a message or an acknowledgement is harmless here: a free-slot notice names
    no chunk and is sent again while the slot stays idle, and an enumeration or a bulk
    operation not started is handed out again once its hold runs out.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._newest_read = (0, 0)
        self._reclaimed = 0

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        while True:
            try:
                async for message in super().listen():
                    if self._reclaimed:
                        count, self._reclaimed = self._reclaimed, 0
                        async with Redis(connection_pool=self.connection_pool) as redis:
                            await MESSAGES_RECLAIMED.add(redis, self.queue_name, count)
                    yield message
            except RedisError as error:
                log.warning("broker lost Redis (%s); reconnecting", error)
                await asyncio.sleep(RECONNECT_SECONDS)
                try:
                    await self._declare_consumer_group()
                except RedisError:
                    continue

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        # Taskiq-redis makes the acknowledgement of every message it hands out, new ones (read
        # past the group's last delivered id) and, after them, those it claimed from a consumer
        # idle too long. A new one is past every message read before it; one that is not was
        # read before, by a consumer that never acknowledged it.
        position = _stream_position(id)
        if position < self._newest_read:
            self._reclaimed += 1
        else:
            self._newest_read = position
        ack = super()._ack_generator(id, queue_name)

        async def ack_if_possible() -> None:
            try:
                await ack()
            except RedisError as error:
                log.warning("could not acknowledge message %s: %s", id, error)

        return ack_if_possible


def _stream_position(message_id: bytes | str) -> tuple[int, int]:
    text = message_id.decode() if isinstance(message_id, bytes) else message_id
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def build_broker(
    redis_url: str, stream: str = keys.ENUMERATION_STREAM, *, redelivery_seconds: float = 600
) -> JobtowerBroker:
    """A broker that listens on ``stream``; any broker sends to both streams."""
    broker = JobtowerBroker(
        redis_url,
        queue_name=stream,
        consumer_group_name=keys.TASK_GROUP,
        # A group created after messages arrived (Redis came back empty) still reads them.
        consumer_id="0",
        # Read a message only when a slot can run it, so a busy worker never sits on one.
        xread_count=1,
        xread_block=1000,
        idle_timeout=int(redelivery_seconds * 1000),
        maxlen=100_000,
        **RETRYING,
    )
    register_tasks(broker)
    return broker


async def send_free_slots(broker: RedisStreamBroker, count: int) -> None:
    kicker = AsyncKicker(FREE_SLOT, broker, {"queue_name": keys.FREE_SLOT_STREAM})
    for _ in range(count):
        await kicker.kiq()


async def unread_free_slots(redis: Redis, at_most: int) -> int:
    """Free-slot notices that no worker has read yet, counted up to ``at_most``."""
    try:
        groups = await redis.xinfo_groups(keys.FREE_SLOT_STREAM)
    except ResponseError:  # no notice sent since Redis started
        return 0
    group = keys.TASK_GROUP.encode()
    read_up_to = next((g["last-delivered-id"] for g in groups if g["name"] == group), b"0-0")
    unread = await redis.xrange(keys.FREE_SLOT_STREAM, min=b"(" + read_up_to, count=at_most)
    return len(unread)


async def wake_idle_slots(redis: Redis, broker: RedisStreamBroker, slots: int) -> None:
    """One unread free-slot notice per idle slot (of ``slots`` live ones) that a ready chunk
    could use, no more: the dispatcher's rounds send them, and so does the worker that has just
    enumerated chunks, so they start without waiting for a round."""
    idle = slots - (await in_flight()).total
    wanted = await count_ready_chunks(at_most=idle) if idle > 0 else 0
    if not wanted:
        return
    missing = wanted - await unread_free_slots(redis, at_most=wanted)
    if missing > 0:
        await send_free_slots(broker, missing)


async def send_enumeration(broker: RedisStreamBroker, job_id: int) -> None:
    await AsyncKicker(ENUMERATE_JOB, broker, {"queue_name": keys.ENUMERATION_STREAM}).kiq(job_id)


async def send_bulk_operation(broker: RedisStreamBroker, operation_id: int) -> None:
    await AsyncKicker(RUN_BULK_OPERATION, broker, {"queue_name": keys.BULK_STREAM}).kiq(operation_id)
