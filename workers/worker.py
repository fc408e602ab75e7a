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
import faulthandler
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
SHUTDOWN_SECONDS = 10.0
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
    enumerations = build_broker(redis_url, keys.ENUMERATION_STREAM)
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
        # A message is spent once read: what a dead worker held is handed out again by the
        # dispatcher, which sends another notice while a slot stays idle, and an enumeration
        # or a bulk operation again when its hold runs out, never while a live worker holds it.
        receivers = [
            _receive(slots, settings.worker_concurrency),
            # Enumerations run beside the chunk slots, never behind them.
            _receive(enumerations, settings.worker_concurrency),
            _receive(bulk_runs, BULK_RUNS_AT_ONCE),
        ]
        log.info("worker %s runs %d chunks at a time", worker_id, settings.worker_concurrency)
        await stop.wait()
        log.info("worker %s drains", worker_id)
        runtime.draining.set()
        for broker in brokers:
            broker.stop_listening()
        await redis.delete(keys.worker(worker_id))
        await _wait_for_runs(runtime, timeout=settings.lease_seconds)
        # With the runs over and the listeners stopped, each receiver ends by itself.
        await asyncio.wait(receivers, timeout=slots.block / 1000 + 1)
        _watch_shutdown(worker_id)
        tasks = (presence, *receivers, *runtime.own_slots)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for broker in brokers:
            await broker.shutdown()
        await redis.delete(keys.worker(worker_id))
        await redis.aclose()


def _receive(broker: JobtowerBroker, at_once: int) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_receiver_task(
            broker,
            max_async_tasks=at_once,
            max_prefetch=0,
            ack_time=AcknowledgeType.WHEN_RECEIVED,
            propagate_exceptions=False,
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


def _watch_shutdown(worker_id: str) -> None:
    """Once the worker has drained, nothing it still does matters to anyone, and it must end: a
    shutdown still under way ``SHUTDOWN_SECONDS`` later (a step that will not be cancelled, a
    connection that will not close) logs what each of its tasks waits for, and twice as late
    the process exits with status 1 and its threads' stacks on stderr (which also say where a
    blocked event loop stands). The process ends before either when all goes well."""
    asyncio.get_running_loop().call_later(SHUTDOWN_SECONDS, _log_waiting_tasks, worker_id)
    faulthandler.dump_traceback_later(2 * SHUTDOWN_SECONDS, exit=True)


def _log_waiting_tasks(worker_id: str) -> None:
    chains = "\n".join(f"{task.get_name()}: {_awaiting(task.get_coro())}" for task in asyncio.all_tasks())
    log.error(
        "worker %s has not shut down %.0f s after it drained; its tasks wait in:\n%s",
        worker_id,
        SHUTDOWN_SECONDS,
        chains,
    )


def _awaiting(coroutine: object) -> str:
    """Where a task waits: each coroutine it awaits, down to the innermost (a task's own stack
    shows only its outermost)."""
    frames = []
    while coroutine is not None:
        frame = getattr(coroutine, "cr_frame", None)
        if frame is not None:
            frames.append(f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})")
        coroutine = getattr(coroutine, "cr_await", None)
    return " → ".join(frames)


async def _wait_for_runs(runtime: WorkerRuntime, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while runtime.busy() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
