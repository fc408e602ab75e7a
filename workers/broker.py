"""The Taskiq brokers: Redis streams, sturdy across Redis restarts, and the messages they carry."""

from __future__ import annotations

import asyncio
import contextlib
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
# How often a listener looks for messages that a consumer read and never acknowledged (it died
# holding them) once they have idled past the broker's ``idle_timeout``.
RECLAIM_SECONDS = 1.0

# A stream entry: its id and its fields.
_Entry = tuple[bytes, dict[bytes, bytes]]


class JobtowerBroker(RedisStreamBroker):
    """A stream broker whose listener keeps reading when Redis restarts or loses its data,
    takes over the messages a dead consumer held (counted in ``MESSAGES_RECLAIMED``) whether
    or not anything new arrives, and ends of its own once told to stop listening.

    A draining worker stops its listeners before it cancels its receivers, so it reads no
    message it would not run, and its shutdown never waits on a read. Losing a message or an
    acknowledgement is harmless here: a free-slot notice names no chunk and is sent again
    while the slot stays idle, and an enumeration or a bulk operation not started is handed
    out again once its hold runs out.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listening = True
        self._reading: asyncio.Future[list[_Entry]] | None = None

    def stop_listening(self) -> None:
        """The listener reads no more: the read under way is called off and the listener ends
        (within one blocking read, ``xread_block``, should the read not heed it)."""
        self._listening = False
        if self._reading is not None:
            self._reading.cancel()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        loop = asyncio.get_running_loop()
        next_reclaim = 0.0
        while self._listening:
            reclaim = loop.time() >= next_reclaim
            if reclaim:
                next_reclaim = loop.time() + RECLAIM_SECONDS
            reading = self._reading = asyncio.ensure_future(self._read(reclaim))
            try:
                await asyncio.wait({reading})
            except asyncio.CancelledError:  # the listener's own task is cancelled
                reading.cancel()
                raise
            finally:
                self._reading = None
            if reading.cancelled():  # by stop_listening
                return
            try:
                entries = reading.result()
            except RedisError as error:
                log.warning("broker lost Redis (%s); reconnecting", error)
                await asyncio.sleep(RECONNECT_SECONDS)
                with contextlib.suppress(RedisError):
                    await self._declare_consumer_group()
                continue
            for message_id, fields in entries:
                yield AckableMessage(data=fields[b"data"], ack=self._ack_generator(message_id, self.queue_name))

    async def _read(self, reclaim: bool) -> list[_Entry]:
        """New messages (waiting up to ``xread_block`` for one), then, if ``reclaim``, a dead
        consumer's."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            fetched = await redis.xreadgroup(
                self.consumer_group_name,
                self.consumer_name,
                {self.queue_name: ">"},
                count=self.count,
                block=self.block,
            )
            entries = [entry for _, stream_entries in fetched for entry in stream_entries]
            if reclaim:
                entries += await self._reclaim(redis)
        return entries

    async def _reclaim(self, redis: Redis) -> list[_Entry]:
        """Messages idle past ``idle_timeout`` under another consumer, now this one's (one
        trimmed from the stream meanwhile comes back empty, and is left out)."""
        _, entries, *_ = await redis.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            count=self.unacknowledged_batch_size,
        )
        claimed = [(message_id, fields) for message_id, fields in entries if fields]
        if claimed:
            await MESSAGES_RECLAIMED.add(redis, self.queue_name, len(claimed))
        return claimed

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        ack = super()._ack_generator(id, queue_name)

        async def ack_if_possible() -> None:
            try:
                await ack()
            except RedisError as error:
                log.warning("could not acknowledge message %s: %s", id, error)

        return ack_if_possible


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
