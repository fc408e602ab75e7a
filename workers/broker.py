"""The Taskiq broker: Redis streams, acknowledged after the task ran, and sturdy across Redis restarts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable

from redis.exceptions import RedisError
from taskiq import AckableMessage
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from workers import keys
from workers.tasks import ENUMERATE_JOB, RUN_CHUNK, register_tasks

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


class JobtowerBroker(RedisStreamBroker):
    """A stream broker that keeps listening when Redis restarts or loses its data.

    Losing a message or an acknowledgement is harmless here: chunk claims are
    atomic in the database, and the dispatcher re-queues what nobody claimed.
    """

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        while True:
            try:
                async for message in super().listen():
                    yield message
            except RedisError as error:
                log.warning("broker lost Redis (%s); reconnecting", error)
                await asyncio.sleep(RECONNECT_SECONDS)
                try:
                    await self._declare_consumer_group()
                except RedisError:
                    continue

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        ack = super()._ack_generator(id, queue_name)

        async def ack_if_possible() -> None:
            try:
                await ack()
            except RedisError as error:
                log.warning("could not acknowledge message %s: %s", id, error)

        return ack_if_possible


def build_broker(redis_url: str, *, prefetch: int = 1, redelivery_seconds: float = 600) -> JobtowerBroker:
    broker = JobtowerBroker(
        redis_url,
        queue_name=keys.TASK_STREAM,
        consumer_group_name=keys.TASK_GROUP,
        # A group created after messages arrived (Redis came back empty) still reads them.
        consumer_id="0",
        # Read no further ahead than the worker can run: the dispatcher decides the order.
        xread_count=prefetch,
        xread_block=1000,
        idle_timeout=int(redelivery_seconds * 1000),
        maxlen=100_000,
    )
    register_tasks(broker)
    return broker


async def send_chunk(broker: RedisStreamBroker, chunk_id: int) -> None:
    await AsyncKicker(RUN_CHUNK, broker, {}).kiq(chunk_id)


async def send_enumeration(broker: RedisStreamBroker, job_id: int) -> None:
    await AsyncKicker(ENUMERATE_JOB, broker, {}).kiq(job_id)
