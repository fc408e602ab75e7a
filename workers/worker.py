"""A worker process: runs chunks in its free slots, enumerations, and bulk operations.

It announces its slots in Redis while alive. A slot that is free reads a
free-slot notice, takes the fairest ready chunk, and when that chunk ends takes
the next one itself, until none is ready; the dispatcher sends notices only
for idle slots. A worker that has just enumerated chunks starts a free slot of
its own on one at once, and sends notices to idle slots for the rest. On
SIGTERM or SIGINT it drains: it takes no more chunks, running ones save their
cursor at the next batch and go back to PENDING for another worker, an
enumeration under way is handed out again, then the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid

from taskiq.acks import AcknowledgeType
from taskiq.api import run_receiver_task

from domain import db
from domain.registry import registry
from domain.usage import configure_ceilings
from jobtower.collector import tune_garbage_collector
from jobtower.settings import Settings
from jobtower.tracing import tracing
from workers import keys
from workers.broker import JobtowerBroker, build_broker, wake_idle_slots
from workers.dispatcher import live_worker_slots
from workers.progress import ProgressPublisher
from workers.runtime import WorkerRuntime
from workers.tasks import take_free_slot
from workers.redis_client import redis_client
from workers.wakeups import announcing

log = logging.getLogger(__name__)

PRESENCE_SECONDS = 2.0
# Bulk operations one worker process runs at once (each acts on several jobs at a time).
BULK_RUNS_AT_ONCE = 2


async def run_worker(settings: Settings, redis_url: str) -> None:
    registry.load(settings.job_types)
    configure_ceilings(settings.max_records_per_job, settings.max_jobs_per_minute)
    worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    redis = redis_client(redis_url)
    slots = build_broker(redis_url, keys.FREE_SLOT_STREAM)

    async def chunks_ready(count: int) -> None:
        """A free slot of this worker takes one of ``count`` new chunks; idle slots are told of the rest."""
        if not settings.dispatch_wakeups:
            return
        try:
            if await take_free_slot(runtime) and count == 1:
                return  # as many chunks are ready as before, and idle slots were told of those
            _, live_slots = await live_worker_slots(redis)
            await wake_idle_slots(redis, slots, live_slots)
        except Exception as error:  # the dispatcher's next round sends the notices: never fail the enumeration
            log.warning("could not tell idle slots that chunks are ready: %s", error)

    runtime = WorkerRuntime(
        worker_id=worker_id,
        settings=settings,
        redis=redis,
        publisher=ProgressPublisher(redis),
        chunks_ready=chunks_ready,
    )
    enumerations = build_broker(
        redis_url, keys.ENUMERATION_STREAM, redelivery_seconds=max(settings.lease_seconds * 2, 10)
    )
    bulk_runs = build_broker(redis_url, keys.BULK_STREAM)
    brokers = (slots, enumerations, bulk_runs)
    for broker in brokers:
        broker.state.runtime = runtime
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    # A statement that outlasts a lease fails rather than hold its chunk for good (see run_free_slot).
    async with (
        tracing(settings, "worker"),
        db.database(settings.resolved_database_url, command_timeout=settings.lease_seconds),
        announcing(redis, settings.dispatch_wakeups),
    ):
        for broker in brokers:
            await broker.startup()
        tune_garbage_collector()
        presence = asyncio.create_task(_announce(runtime))
        receivers = [
            # A notice is spent once read: a dead worker's is not redelivered, the
            # dispatcher sends another while a slot stays idle.
            _receive(slots, settings.worker_concurrency, AcknowledgeType.WHEN_RECEIVED),
            # Enumerations run beside the chunk slots, never behind them.
            _receive(enumerations, settings.worker_concurrency, AcknowledgeType.WHEN_EXECUTED),
            # A bulk operation a dead worker held is handed out again when its lease runs out.
            _receive(bulk_runs, BULK_RUNS_AT_ONCE, AcknowledgeType.WHEN_RECEIVED),
        ]
        log.info("worker %s runs %d chunks at a time", worker_id, settings.worker_concurrency)
        await stop.wait()
        log.info("worker %s drains", worker_id)
        runtime.draining.set()
        await redis.delete(keys.worker(worker_id))
        await _wait_for_runs(runtime, timeout=settings.lease_seconds)
        tasks = (presence, *receivers, *runtime.own_slots)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for broker in brokers:
            await broker.shutdown()
        await redis.delete(keys.worker(worker_id))
        await redis.aclose()


def _receive(broker: JobtowerBroker, at_once: int, ack_time: AcknowledgeType) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_receiver_task(
            broker, max_async_tasks=at_once, max_prefetch=0, ack_time=ack_time, propagate_exceptions=False
        )
    )


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


async def _wait_for_runs(runtime: WorkerRuntime, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while runtime.busy() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
