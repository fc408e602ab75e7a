"""Runs a bulk operation (``domain.bulk``) in a worker: batch after batch, a few jobs at once.

The dispatcher hands out every open operation that no runner holds; the worker
that reads the notice takes it under a lease, which a heartbeat extends. A
worker that dies lets the lease run out and the dispatcher hands the operation
out again; one that drains lets go after the batch in hand. Either way the next
run takes up the targets not reached yet: each target's result is recorded in
the transaction that applies its verb, so no job is acted on twice.

After every batch, and when the operation starts and ends, a prompt goes to the
operation's Redis stream (``announce``); subscribers read it from the database.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain import bulk
from domain.statuses import BulkOperationStatus
from workers import keys
from workers.events import BulkOperationAdvanced

log = logging.getLogger(__name__)

# Jobs acted on at once: each is a short transaction of its own, and the same rows
# (the operation's counters, the tenant's plan usage) are written by each.
CONCURRENCY = 8
BATCH = 100
UPDATES_MAXLEN = 100
UPDATES_TTL_SECONDS = 24 * 3600


async def run_bulk_operation(
    operation_id: int,
    owner: str,
    *,
    lease: timedelta,
    heartbeat_seconds: float,
    redis: Redis,
    draining: asyncio.Event,
) -> None:
    """Run the operation until every target has its result, it is canceled, it goes to
    another runner, or the worker drains; returns quietly if another runner has it."""
    run = await bulk.begin_run(operation_id, owner, lease)
    if run is None:
        return
    lost = asyncio.Event()
    heartbeat = asyncio.create_task(_keep(run, lease, heartbeat_seconds, lost))
    try:
        await announce(redis, operation_id, BulkOperationStatus.RUNNING)
        after: int | None = None
        while not (draining.is_set() or lost.is_set()):
            targets = await bulk.next_targets(run, after, BATCH)
            if not targets:
                if await bulk.complete_run(run):
                    await announce(redis, operation_id, BulkOperationStatus.COMPLETED)
                return
            running = await _apply_all(run, targets)
            await announce(redis, operation_id, BulkOperationStatus.RUNNING)
            if not running:
                return  # canceled: whoever canceled it announced that
            after = targets[-1][1]
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        await bulk.release_run(run)


async def _apply_all(run: bulk.BulkRun, targets: list[tuple[int, int]]) -> bool:
    """Apply the action to ``targets``, ``CONCURRENCY`` at a time; False once the operation
    stopped running (the targets not reached stay as they are)."""
    queue = iter(targets)
    stopped = False

    async def lane() -> None:
        nonlocal stopped
        for target_id, job_id in queue:
            if stopped:
                return
            if not await bulk.apply_to_target(run, target_id, job_id):
                stopped = True

    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return not stopped


async def _keep(run: bulk.BulkRun, lease: timedelta, every: float, lost: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            kept = await bulk.keep_run(run, lease)
        except Exception:  # the database away for a moment: the lease has time left
            log.exception("bulk operation %s: extending the lease failed", run.operation_id)
            continue
        if not kept:
            lost.set()
            return


async def announce(redis: Redis, operation_id: int, status: BulkOperationStatus) -> None:
    """Prompt the operation's subscribers to read it again; best effort: the database has it."""
    advanced = BulkOperationAdvanced(operation_id=operation_id, status=status.value)
    stream = keys.bulk_operation_updates(operation_id)
    pipe = redis.pipeline(transaction=False)
    pipe.xadd(stream, advanced.encode(), maxlen=UPDATES_MAXLEN, approximate=True)
    pipe.expire(stream, UPDATES_TTL_SECONDS)
    try:
        await pipe.execute()
    except RedisError as error:
        log.warning("bulk operation %s: update not published: %s", operation_id, error)
