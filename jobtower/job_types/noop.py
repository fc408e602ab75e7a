"""``noop``: records that do nothing for a while, with a seeded share of failures.

Params: ``records`` (how many), ``steps`` (per record), ``stepMs`` (each step's
sleep) and ``failRate`` (0..1, which records fail in the last step; the same
keys fail on every run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from domain.registry import JobType, RecordContext, Step, registry
from jobtower.job_types.simulated import seeded

MAX_STEPS = 20


async def _numbers(params: Mapping[str, Any]) -> AsyncIterator[str]:
    for number in range(params.get("records", 100)):
        yield str(number)


def _make_step(index: int) -> Step:
    async def run(context: RecordContext) -> None:
        params = context.params
        delay = params.get("stepMs", 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if index == params.get("steps", 3) - 1 and seeded(context.key, params.get("failRate", 0)):
            raise RuntimeError(f"seeded failure of record {context.key}")

    return Step(f"step{index + 1}", run)


STEPS = tuple(_make_step(index) for index in range(MAX_STEPS))

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
        params_schema={
            "type": "object",
            "properties": {
                "records": {"type": "integer", "minimum": 0, "maximum": 100_000_000},
                "steps": {"type": "integer", "minimum": 1, "maximum": MAX_STEPS},
                "stepMs": {"type": "number", "minimum": 0, "maximum": 60_000},
                "failRate": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "additionalProperties": False,
        },
    )
)
