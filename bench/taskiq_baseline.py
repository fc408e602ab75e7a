"""Baseline A: plain Taskiq, one task per record, each writing its own row.

The ordinary way to run record-sized work on Taskiq: a ``RedisStreamBroker``,
one ``kiq`` per record, ``taskiq worker bench.taskiq_baseline:broker``. The task
runs the same three ``noop`` steps as Jobtower (each sleeping ``step_ms``, as
the I/O-bound run asks), times them into the same journey, and inserts its one row (one statement, one transaction) into
``bench_taskiq``, a scratch copy of the ``record`` table.

Configured by the environment the benchmark gives the worker processes:
``BENCH_REDIS_URL`` and ``BENCH_DATABASE_URL``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from taskiq import TaskiqDepends, TaskiqEvents, TaskiqState
from taskiq_redis import RedisStreamBroker

from domain.clock import utcnow
from domain.journey import entry
from domain.statuses import RecordStatus, StepStatus
from jobtower.job_types.noop import STEPS

STREAM = "bench:taskiq:records"
GROUP = "bench:taskiq:workers"
TABLE = "bench_taskiq"
# The noop params Jobtower's run uses.
PARAMS = {"steps": 3, "stepMs": 0, "failRate": 0.001}

broker = RedisStreamBroker(
    os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    queue_name=STREAM,
    consumer_group_name=GROUP,
)


@dataclass
class _Context:
    """What a noop step reads (domain.registry.RecordContext)."""

    key: str
    params: dict[str, Any]
    detail: Any = None
    state: dict[str, Any] = field(default_factory=dict)


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _open_pool(state: TaskiqState) -> None:
    state.pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=1, max_size=10)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _close_pool(state: TaskiqState) -> None:
    await state.pool.close()


@broker.task(task_name="bench.run_record")
async def run_record(position: int, step_ms: float = 0, state: TaskiqState = TaskiqDepends()) -> None:
    key = str(position)
    context = _Context(key=key, params={**PARAMS, "stepMs": step_ms})
    started_at = utcnow()
    origin = time.perf_counter_ns()
    journey: list[Any] = []
    status, error = RecordStatus.SUCCEEDED, None
    for index, step in enumerate(STEPS[: PARAMS["steps"]]):
        began = time.perf_counter_ns()
        try:
            await step.run(context)
            step_status = StepStatus.SUCCEEDED
        except Exception as failure:
            step_status, error = StepStatus.FAILED, f"{type(failure).__name__}: {failure}"
        took = (time.perf_counter_ns() - began) // 1000
        journey.append(entry(index, step_status, (began - origin) // 1000, took, None, error))
        if step_status is not StepStatus.SUCCEEDED:
            status = RecordStatus.FAILED
            break
    await state.pool.execute(
        f"INSERT INTO {TABLE} (job_id, chunk_id, position, key, status, error, attempts,"
        " started_at, ended_at, journey) VALUES (0, 0, $1, $2, $3, $4, 1, $5, $6, $7)"
        " ON CONFLICT (job_id, position, partition_id) DO NOTHING",
        position,
        key,
        status.value,
        error,
        started_at,
        utcnow(),
        json.dumps(journey, separators=(",", ":")),
    )
