"""The dispatcher: one leader at a time keeps the work moving.

Each round the leader re-queues chunks whose worker died, settles stop and
cancel requests that found nothing in flight, hands out enumerations, tells
idle worker slots that chunks are ready, hands out bulk operations that no
worker runs, starts due schedules and relays job events. It never chooses a
chunk: a free-slot notice names none, and the slot that reads it takes the
fairest ready chunk at that moment
(``domain.scheduling``), so neither the dispatcher nor the broker's queue
decides the order. Several dispatcher processes may run: the others stand by,
and every claim is atomic anyway.

Between rounds the leader also listens for wake-ups (``workers.wakeups``): a job
started or resumed makes it hand out enumerations and free-slot notices at once
(``hand_out``), and the worker that enumerates chunks sends their notices itself,
so new work never waits for a round. The rounds stay, and find whatever a lost
wake-up or notice left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from redis.asyncio import Redis
from taskiq_redis import RedisStreamBroker

from domain import bulk, db
from domain.execution import (
    hold_enumeration,
    reap_expired_leases,
    release_enumerations,
    settle_idle_wind_downs,
)
from domain.jobs import expire_waits
from domain.registry import registry
from domain.usage import configure_ceilings
from domain.scheduling import enumerations_to_hand_out
from domain.wakeups import announce_with
from jobtower.settings import Settings
from jobtower.tracing import tracing
from workers import keys
from workers.broker import (
    build_broker,
    send_bulk_operation,
    send_enumeration,
    wake_idle_slots,
)
from workers.relay import relay_events
from workers.shared_metrics import LEASE_GIVEN_UP, LEASE_RETRIED, LEASES_LOST
from workers.wakeups import listen_for_wakeups
from domain.schedules import start_due_schedules
from workers.redis_client import redis_client

log = logging.getLogger(__name__)

LEADER_SECONDS = 5.0
# How long what a round read of the leadership and the live workers serves the wake-ups after it.
FRESH_SECONDS = 1.0
# Bulk operations handed out per round at most.
BULK_HAND_OUT = 100


async def live_worker_slots(redis: Redis) -> tuple[int, int]:
    """(live workers, chunk slots they offer), from the workers' presence keys."""
    names = [name async for name in redis.scan_iter(match=keys.WORKER_PATTERN, count=1000)]
    if not names:
        return 0, 0
    values = await redis.mget(names)
    slots = sum(int(value) for value in values if value is not None)
    return sum(1 for value in values if value is not None), slots


# While Redis or the database is down, rounds are retried at most this far apart.
MAX_BACKOFF_SECONDS = 2.0


def round_pause(interval: float, failures: int) -> float:
    """The pause before the next round: the interval, doubled per failed round in a row up to
    ``MAX_BACKOFF_SECONDS``, so an outage is neither hammered nor noticed late."""
    return min(interval * 2 ** min(failures, 16), max(interval, MAX_BACKOFF_SECONDS))


class Dispatcher:
    def __init__(self, settings: Settings, redis: Redis, broker: RedisStreamBroker) -> None:
        self.settings = settings
        self.redis = redis
        self.broker = broker
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        # Whether this dispatcher leads, and the live workers and their slots, as read at
        # ``read_at`` (loop time): see ``_round``.
        self.leads = False
        self.live: tuple[int, int] = (0, 0)
        self.read_at = float("-inf")
        # Set by a wake-up: heard on Redis, or announced in this process (``dispatching``).
        self.woken = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """A whole round every ``dispatch_interval_seconds``; between rounds, a wake-up hands out
        the work it announced at once (``hand_out``), and the next whole round keeps its time.
        While rounds fail (Redis or the database is down) they back off (``round_pause``)."""
        loop = asyncio.get_running_loop()
        woken = self.woken
        listening = asyncio.create_task(listen_for_wakeups(self.redis, woken))
        next_round = loop.time()
        failures = 0
        try:
            while not stop.is_set():
                whole = loop.time() >= next_round
                woken.clear()  # a wake-up from now on is for work this round may miss
                try:
                    await self._round(whole)
                except Exception as error:  # a failed round is retried by the next one
                    failures += 1
                    if failures == 1:
                        log.exception("dispatcher round failed; retrying with backoff")
                    else:
                        log.warning("dispatcher round failed again (%d in a row): %s", failures, error)
                else:
                    if failures:
                        log.info("dispatcher rounds work again after %d failed", failures)
                    failures = 0
                if whole or failures:
                    next_round = loop.time() + round_pause(self.settings.dispatch_interval_seconds, failures)
                await _first_of(stop, woken, timeout=max(0.0, next_round - loop.time()))
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
        await self.redis.delete(keys.dispatcher(self.id))
        if await self.redis.get(keys.DISPATCHER_LEADER) == self.id.encode():
            await self.redis.delete(keys.DISPATCHER_LEADER)

    async def _lead(self) -> bool:
        ttl = int(LEADER_SECONDS * 1000)
        if await self.redis.set(keys.DISPATCHER_LEADER, self.id, nx=True, px=ttl):
            return True
        if await self.redis.get(keys.DISPATCHER_LEADER) == self.id.encode():
            await self.redis.pexpire(keys.DISPATCHER_LEADER, ttl)
            return True
        return False

    async def _round(self, whole: bool) -> None:
        """A whole round reads whether this dispatcher leads and which workers are live; a
        wake-up less than ``FRESH_SECONDS`` after that hands out with what it read, unless it
        saw no slot (a worker may have come up since)."""
        now = asyncio.get_running_loop().time()
        if whole or not self.live[1] or now - self.read_at > FRESH_SECONDS:
            self.leads, self.live = False, (0, 0)
            await self.redis.set(keys.dispatcher(self.id), 1, px=int(LEADER_SECONDS * 1000))
            self.leads = await self._lead()
            if self.leads:
                self.live = await live_worker_slots(self.redis)
            self.read_at = now
        if self.leads:
            await (self.tick() if whole else self.hand_out())

    async def tick(self) -> None:
        await self._recover_from_empty_redis()
        lost = await reap_expired_leases()
        for outcome, count in Counter(LEASE_GIVEN_UP if lease.gave_up else LEASE_RETRIED for lease in lost).items():
            await LEASES_LOST.add(self.redis, outcome, count)
        await settle_idle_wind_downs()
        await expire_waits()
        workers = await self.hand_out()
        if workers:
            await self._hand_out_bulk_operations()
        await start_due_schedules()
        await relay_events(self.redis)

    async def hand_out(self) -> int:
        """Enumerations to free lanes and notices to idle slots that ready chunks could use;
        how many workers are live."""
        # Notices first: a job started with its chunk written (``domain.enumeration``) waits for
        # nothing else. A worker offers as many enumeration lanes as chunk slots.
        workers, slots = self.live
        await wake_idle_slots(self.redis, self.broker, slots)
        await self._hand_out_enumerations(lanes=slots)
        return workers

    async def _recover_from_empty_redis(self) -> None:
        if await self.redis.exists(keys.EPOCH):
            return
        # Lost free-slot notices need nothing: the slots stay idle and get new ones.
        if enumerations := await release_enumerations():
            log.warning("Redis came back empty: %d enumerations handed out again", enumerations)
        if operations := await bulk.release_hand_outs():
            log.warning("Redis came back empty: %d bulk operations handed out again", operations)
        await self.redis.set(keys.EPOCH, self.id)

    async def _hand_out_enumerations(self, lanes: int) -> None:
        lease = timedelta(seconds=self.settings.queue_lease_seconds)
        for job_id in await enumerations_to_hand_out(lanes):
            if await hold_enumeration(job_id, lease):
                await send_enumeration(self.broker, job_id)

    async def _hand_out_bulk_operations(self) -> None:
        lease = timedelta(seconds=self.settings.queue_lease_seconds)
        for operation_id in await bulk.operations_to_hand_out(BULK_HAND_OUT):
            if await bulk.hold_for_hand_out(operation_id, lease):
                await send_bulk_operation(self.broker, operation_id)



async def _first_of(stop: asyncio.Event, woken: asyncio.Event, timeout: float) -> None:
    """Wait until ``stop`` or ``woken`` is set, or ``timeout`` passes."""
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(woken.wait())]
    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        wait.cancel()


async def run_dispatcher(settings: Settings, redis_url: str) -> None:
    """The ``jobtower dispatcher`` process: dispatches until SIGTERM or SIGINT."""
    registry.load(settings.job_types)
    configure_ceilings(settings.max_records_per_job, settings.max_jobs_per_minute)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # A statement that outlasts a lease fails, and the next round tries again, rather than stall the rounds.
    async with (
        tracing(settings, "dispatcher"),
        db.database(settings.resolved_database_url, command_timeout=settings.lease_seconds),
        dispatching(settings, redis_url),
    ):
        await stop.wait()


@asynccontextmanager
async def dispatching(settings: Settings, redis_url: str) -> AsyncIterator[None]:
    """A dispatcher in this event loop for as long as the block runs, inside an open database:
    it ends its round before the block's end, so it never meets a closed one.

    Work this process announces (``workers.wakeups.announcing``, entered around this block)
    wakes it at once while it leads, with no round trip through Redis; while it stands by,
    the announcement goes to Redis for the leader."""
    stop = asyncio.Event()
    redis = redis_client(redis_url)
    broker = build_broker(redis_url)
    await broker.startup()
    dispatcher = Dispatcher(settings, redis, broker)
    running = asyncio.create_task(dispatcher.run(stop))
    published = announce_with(None)

    async def announce() -> None:
        if dispatcher.leads:
            dispatcher.woken.set()
        elif published is not None:
            await published()

    announce_with(announce if published is not None else None)
    try:
        yield
    finally:
        announce_with(published)
        stop.set()
        await running
        await broker.shutdown()
        await redis.aclose()
