"""Taskiq tasks. They take ids (or nothing), re-load rows, and return quietly if the work is gone or taken."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import suppress

from taskiq import TaskiqDepends, TaskiqState
from taskiq.abc.broker import AsyncBroker

from domain.clock import utcnow
from domain.errors import UnknownJobType
from domain.execution import ClaimedChunk, claim_next_chunk, release_chunk
from domain.registry import registry
from domain.statuses import ChunkOperation
from workers.bulk import run_bulk_operation
from workers.enumerator import enumerate_job
from workers.runner import ChunkRunner, RunnerSettings
from workers.runtime import WorkerRuntime
from workers.shared_metrics import DISPATCH_LATENCY
from jobtower.logging_setup import log_fields

log = logging.getLogger(__name__)

FREE_SLOT = "jobtower.free_slot"
ENUMERATE_JOB = "jobtower.enumerate_job"
RUN_BULK_OPERATION = "jobtower.run_bulk_operation"


async def run_free_slot(state: TaskiqState = TaskiqDepends()) -> None:
    """A slot of this worker is free: run the fairest ready chunk, then the next, until none is ready.

    The notice names no chunk, so which chunk runs is decided when the slot can start
    it; a surplus notice finds nothing and returns, and so does one read while every slot
    runs a chunk this worker started itself: the dispatcher sends idle slots elsewhere
    another. A draining worker takes nothing.
    """
    runtime: WorkerRuntime = state.runtime
    if runtime.slots.locked():
        return
    async with runtime.slots:
        await _run_slot(runtime, None)


async def take_free_slot(runtime: WorkerRuntime) -> bool:
    """Chunks were just enumerated here: a free slot of this worker, if it has one, takes the
    fairest ready chunk now, with no notice to wait for, and runs on as any slot does; whether
    one did."""
    if runtime.slots.locked() or runtime.draining.is_set():
        return False
    await runtime.slots.acquire()
    try:
        first = await _claim(runtime)
    except BaseException:
        runtime.slots.release()
        raise
    if first is None:
        runtime.slots.release()
        return False
    task = asyncio.create_task(_own_slot(runtime, first))
    runtime.own_slots.add(task)
    task.add_done_callback(runtime.own_slots.discard)
    return True


async def _own_slot(runtime: WorkerRuntime, first: tuple[ClaimedChunk, str]) -> None:
    try:
        await _run_slot(runtime, first)
    except Exception:  # as a notice's slot would, it ends; the chunk is given back or its lease runs out
        log.exception("a slot ended with an error")
    finally:
        runtime.slots.release()


async def _run_slot(runtime: WorkerRuntime, first: tuple[ClaimedChunk, str] | None) -> None:
    """Run ``first`` (a claimed chunk and its owner), then the next fairest ready chunk, until none
    is. A chunk claimed is always run, even once the worker drains: its run gives it back at once."""
    taken = first or await _claim_unless_draining(runtime)
    while taken is not None and await _run(*taken, runtime):
        taken = await _claim_unless_draining(runtime)


async def _claim_unless_draining(runtime: WorkerRuntime) -> tuple[ClaimedChunk, str] | None:
    return None if runtime.draining.is_set() else await _claim(runtime)


async def _claim(runtime: WorkerRuntime) -> tuple[ClaimedChunk, str] | None:
    owner = f"{runtime.worker_id}/{uuid.uuid4().hex[:8]}"
    claimed = await claim_next_chunk(owner, runtime.settings.lease)
    if claimed is None:
        return None
    if claimed.chunk.ready_at is not None:
        waited = (utcnow() - claimed.chunk.ready_at).total_seconds()
        await DISPATCH_LATENCY.observe(runtime.redis, [max(0.0, waited)])
    return claimed, owner


async def _run(claimed: ClaimedChunk, owner: str, runtime: WorkerRuntime) -> bool:
    """Run a claimed chunk to its release; False if this worker cannot run its job type."""
    try:
        job_type = registry.get(claimed.job.type)
    except UnknownJobType:
        log.error("job type %s is not registered in this worker", claimed.job.type)
        await release_chunk(claimed.chunk.id, owner, ChunkOperation.REQUEUE)
        return False
    settings = runtime.settings
    runner = ChunkRunner(
        claimed,
        job_type,
        RunnerSettings(
            owner=owner,
            lease=settings.lease,
            heartbeat_seconds=settings.heartbeat_seconds,
            flush_records=settings.flush_records,
            flush_seconds=settings.flush_seconds,
        ),
        runtime.publisher,
        runtime.draining,
    )
    try:
        with log_fields(tenant_id=claimed.job.tenant_id, job_id=claimed.job.id, chunk=claimed.chunk.index):
            await runner.run()
    except Exception:
        # The database failed under the chunk (it restarted, a statement timed out): give the
        # chunk back now, so a slot runs it again from its cursor without waiting out the lease.
        log.exception("chunk %s: its run failed; giving it back", claimed.chunk.id)
        with suppress(Exception):
            await release_chunk(claimed.chunk.id, owner, ChunkOperation.REQUEUE)
        raise
    return True


async def run_enumeration(job_id: int, state: TaskiqState = TaskiqDepends()) -> None:
    runtime: WorkerRuntime = state.runtime
    runtime.enumerations += 1
    try:
        with log_fields(job_id=job_id):
            await enumerate_job(job_id, runtime.settings.lease, runtime.chunks_ready, runtime.draining)
    finally:
        runtime.enumerations -= 1


async def run_bulk(operation_id: int, state: TaskiqState = TaskiqDepends()) -> None:
    runtime: WorkerRuntime = state.runtime
    settings = runtime.settings
    await run_bulk_operation(
        operation_id,
        f"{runtime.worker_id}/{uuid.uuid4().hex[:8]}",
        lease=settings.lease,
        heartbeat_seconds=settings.heartbeat_seconds,
        redis=runtime.redis,
        draining=runtime.draining,
    )


def register_tasks(broker: AsyncBroker) -> None:
    broker.register_task(run_free_slot, task_name=FREE_SLOT)
    broker.register_task(run_enumeration, task_name=ENUMERATE_JOB)
    broker.register_task(run_bulk, task_name=RUN_BULK_OPERATION)
