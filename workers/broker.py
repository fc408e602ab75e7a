"""The Taskiq broker: Redis streams, acknowledged after the task ran."""

from __future__ import annotations

from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from workers import keys
from workers.tasks import ENUMERATE_JOB, RUN_CHUNK, register_tasks


def build_broker(redis_url: str, *, prefetch: int = 1, redelivery_seconds: float = 600) -> RedisStreamBroker:
    broker = RedisStreamBroker(
        redis_url,
        queue_name=keys.TASK_STREAM,
        consumer_group_name=keys.TASK_GROUP,
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
