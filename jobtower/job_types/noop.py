"""``noop``: records that do nothing for a while, with a seeded share of failures.

Params: ``records`` (how many), ``steps`` (per record), ``stepMs`` (each step's
sleep) and ``failRate`` (0..1, which records fail in the last step; the same
keys fail on every run). ``noop_batched`` takes the same params and runs its
steps as batch steps of ``BATCH_SIZE`` records, each call sleeping ``stepMs``
once for all of them: the same wait per call, a hundredth of the calls
(``bench.throughput`` compares the two).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from domain.registry import JobType, RecordContext, Step, registry
from jobtower.job_types.simulated import seeded

MAX_STEPS = 20
BATCH_SIZE = 100


async def _numbers(params: Mapping[str, Any]) -> AsyncIterator[str]:
    for number in range(params.get("records", 100)):
        yield str(number)


def _failure(index: int, context: RecordContext) -> RuntimeError | None:
    params = context.params
    if index == params.get("steps", 3) - 1 and seeded(context.key, params.get("failRate", 0)):
        return RuntimeError(f"seeded failure of record {context.key}")
    return None


async def _pause(params: Mapping[str, Any]) -> None:
    if delay := params.get("stepMs", 0):
        await asyncio.sleep(delay / 1000)


def _make_step(index: int) -> Step:
    async def run(context: RecordContext) -> None:
        await _pause(context.params)
        if failure := _failure(index, context):
            raise failure

    return Step(f"step{index + 1}", run)


def _make_batch_step(index: int) -> Step:
    async def run_batch(contexts: Sequence[RecordContext]) -> None:
        await _pause(contexts[0].params)
        for context in contexts:
            if failure := _failure(index, context):
                context.fail(failure)

    return Step(f"step{index + 1}", run_batch=run_batch, batch_size=BATCH_SIZE)


STEPS = tuple(_make_step(index) for index in range(MAX_STEPS))
BATCH_STEPS = tuple(_make_batch_step(index) for index in range(MAX_STEPS))

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "records": {"type": "integer", "minimum": 0, "maximum": 100_000_000},
        "steps": {"type": "integer", "minimum": 1, "maximum": MAX_STEPS},
        "stepMs": {"type": "number", "minimum": 0, "maximum": 60_000},
        "failRate": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "additionalProperties": False,
}

NOOP = registry.register(
    JobType(
        name="noop",
        label="No-op",
        description="Does nothing per record, for benchmarks and tests.",
        enumerate=_numbers,
        steps=STEPS,
        plan_steps=lambda params: STEPS[: params.get("steps", 3)],
        # Sleeping steps overlap; instant ones run one after another, which is fastest.
        record_concurrency=lambda params: 64 if params.get("stepMs", 0) else 1,
        # Each chunk costs about 20 queries to lease, count and release: bigger
        # chunks of instant records spend their time on records (bench.throughput).
        default_chunk_size=5000,
        estimate_records=lambda params: params.get("records", 100),
        params_schema=PARAMS_SCHEMA,
    )
)

NOOP_BATCHED = registry.register(
    JobType(
        name="noop_batched",
        label="Batched no-op",
        description="Does nothing for many records at once, for benchmarks and tests.",
        enumerate=_numbers,
        steps=BATCH_STEPS,
        plan_steps=lambda params: BATCH_STEPS[: params.get("steps", 3)],
        default_chunk_size=5000,
        estimate_records=lambda params: params.get("records", 100),
        params_schema=PARAMS_SCHEMA,
    )
)
