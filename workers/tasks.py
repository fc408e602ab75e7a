"""Taskiq tasks. They take ids, re-load rows, and return quietly if the work is gone or taken."""

from __future__ import annotations

import logging
import uuid

from taskiq import TaskiqDepends, TaskiqState
from taskiq.abc.broker import AsyncBroker

from domain.errors import UnknownJobType
from domain.execution import claim_chunk, release_chunk
from domain.registry import registry
from domain.scheduling import unqueue
from domain.statuses import ChunkOperation
from workers.enumerator import enumerate_job
from workers.runner import ChunkRunner, RunnerSettings
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)

RUN_CHUNK = "jobtower.run_chunk"
ENUMERATE_JOB = "jobtower.enumerate_job"


async def run_chunk(chunk_id: int, state: TaskiqState = TaskiqDepends()) -> None:
    runtime: WorkerRuntime = state.runtime
    if runtime.draining.is_set():
        await unqueue(chunk_id)  # hand it straight back to the dispatcher
        return
    owner = f"{runtime.worker_id}/{uuid.uuid4().hex[:8]}"
    claimed = await claim_chunk(chunk_id, owner, runtime.settings.lease)
    if claimed is None:
        return
    try:
        job_type = registry.get(claimed.job.type)
    except UnknownJobType:
        log.error("job type %s is not registered in this worker", claimed.job.type)
        await release_chunk(chunk_id, owner, ChunkOperation.REQUEUE)
        return
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
    runtime.active_chunks += 1
    try:
        await runner.run()
    finally:
        runtime.active_chunks -= 1


async def run_enumeration(job_id: int, state: TaskiqState = TaskiqDepends()) -> None:
    runtime: WorkerRuntime = state.runtime
    await enumerate_job(job_id, runtime.settings.lease)


def register_tasks(broker: AsyncBroker) -> None:
    broker.register_task(run_chunk, task_name=RUN_CHUNK)
    broker.register_task(run_enumeration, task_name=ENUMERATE_JOB)
