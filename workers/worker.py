"""A worker process: takes chunk and enumeration tasks from the broker and runs them.

It announces itself in Redis while alive (the dispatcher sizes the work it
hands out by the live workers), and on SIGTERM or SIGINT it drains: running
chunks save their cursor at the next batch and go back to PENDING for another
worker, then the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid

from redis.asyncio import Redis
from taskiq.acks import AcknowledgeType
from taskiq.api import run_receiver_task

from domain import db
from domain.registry import registry
from jobtower.collector import tune_garbage_collector
from jobtower.settings import Settings
from workers import keys
from workers.broker import build_broker
from workers.progress import ProgressPublisher
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)

PRESENCE_SECONDS = 2.0


async def run_worker(settings: Settings, redis_url: str) -> None:
    registry.load(settings.job_types)
    worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    redis = Redis.from_url(redis_url)
    runtime = WorkerRuntime(
        worker_id=worker_id, settings=settings, redis=redis, publisher=ProgressPublisher(redis)
    )
    broker = build_broker(
        redis_url,
        prefetch=settings.worker_concurrency,
        redelivery_seconds=max(settings.lease_seconds * 2, 10),
    )
    broker.state.runtime = runtime
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async with db.database(settings.resolved_database_url):
        await broker.startup()
        tune_garbage_collector()
        presence = asyncio.create_task(_announce(runtime))
        receiver = asyncio.create_task(
            run_receiver_task(
                broker,
                max_async_tasks=settings.worker_concurrency,
                max_prefetch=0,
                ack_time=AcknowledgeType.WHEN_EXECUTED,
                propagate_exceptions=False,
            )
        )
        log.info("worker %s runs %d chunks at a time", worker_id, settings.worker_concurrency)
        await stop.wait()
        log.info("worker %s drains", worker_id)
        runtime.draining.set()
        await redis.delete(keys.worker(worker_id))
        await _wait_for_chunks(runtime, timeout=settings.lease_seconds)
        presence.cancel()
        receiver.cancel()
        await asyncio.gather(presence, receiver, return_exceptions=True)
        await broker.shutdown()
        await redis.delete(keys.worker(worker_id))
        await redis.aclose()


async def _announce(runtime: WorkerRuntime) -> None:
    key = keys.worker(runtime.worker_id)
    while not runtime.draining.is_set():
        try:
            await runtime.redis.set(
                key, runtime.settings.worker_concurrency, px=int(PRESENCE_SECONDS * 3000)
            )
        except Exception:  # Redis restarting: announce again next round
            log.exception("worker presence update failed")
        await asyncio.sleep(PRESENCE_SECONDS)


async def _wait_for_chunks(runtime: WorkerRuntime, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while runtime.active_chunks and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
