"""Job types the tests run: deterministic, and observable from outside the worker.

``test.counted`` records every execution of its step in Redis
(``executions_key(job_id)``: key -> runs), so tests can tell a record that ran
twice from one whose outcome was written twice; so do ``test.hanging``, whose
step never ends by itself, and ``test.stubborn``, whose step swallows its
cancellation. ``test.batched`` records the keys of each call of its batch step
(``batch_calls_key(job_id)``).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.registry import JobType, RecordContext, SkipRecord, Step, WaitForAnswer, registry

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "records": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "stepMs": {"type": "number", "minimum": 0, "maximum": 10_000},
        "children": {"type": "integer", "minimum": 0, "maximum": 100},
        # test.parent: each child's records and their step time.
        "childRecords": {"type": "integer", "minimum": 0, "maximum": 1000},
        "childStepMs": {"type": "number", "minimum": 0, "maximum": 10_000},
        # test.parent: a pause before each spawn, so a record spends its time spawning.
        "spawnMs": {"type": "number", "minimum": 0, "maximum": 10_000},
        "waitSeconds": {"type": "number", "minimum": 0, "maximum": 3600},
        # A pause before each key is enumerated: an enumeration that takes its time.
        "keyMs": {"type": "number", "minimum": 0, "maximum": 10_000},
        # Each enumeration of the job counts itself under this name (``enumerations_key``).
        "tag": {"type": "string"},
        # test.batched: its batch step's calls each take batchMs (default stepMs); records whose number is a multiple fail for good, fail their first
        # attempt only, are skipped, or wait for an answer in the batch step.
        "rejectEvery": {"type": "integer", "minimum": 1},
        "flakyEvery": {"type": "integer", "minimum": 1},
        "skipEvery": {"type": "integer", "minimum": 1},
        "waitEvery": {"type": "integer", "minimum": 1},
        "batchMs": {"type": "number", "minimum": 0, "maximum": 60_000},
    },
    "additionalProperties": False,
}


async def numbered(params: Mapping[str, Any]) -> AsyncIterator[str]:
    if tag := params.get("tag"):
        await _note(lambda redis: redis.incr(enumerations_key(tag)))
    for number in range(params.get("records", 10)):
        if delay := params.get("keyMs", 0):
            await asyncio.sleep(delay / 1000)
        yield str(number)


async def passes(context: RecordContext) -> None:
    if delay := context.params.get("stepMs", 0):
        await asyncio.sleep(delay / 1000)


def executions_key(job_id: int) -> str:
    return f"tests:executions:{job_id}"


_redis: Redis | None = None


async def counted(context: RecordContext) -> None:
    await passes(context)
    await _count_execution(context)


async def hangs(context: RecordContext) -> None:
    """Counts its run, then never ends by itself: only its step's timeout ends it."""
    await _count_execution(context)
    await asyncio.sleep(3600)


async def will_not_be_cancelled(context: RecordContext) -> None:
    """Counts its run, then never ends: it swallows every cancellation."""
    await _count_execution(context)
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue


async def _count_execution(context: RecordContext) -> None:
    await _note(lambda redis: redis.hincrby(executions_key(context.job_id), context.key, 1))


async def _note(command: Any) -> None:
    global _redis
    if _redis is None:
        _redis = Redis.from_url(os.environ["REDIS_URL"])
    # The note is the tests' instrument, not the work: it waits out a Redis restart.
    for _ in range(300):
        try:
            await command(_redis)
            return
        except RedisError:
            await asyncio.sleep(0.1)
    raise RuntimeError("Redis did not come back to take the note")


def enumerations_key(tag: str) -> str:
    return f"tests:enumerations:{tag}"


def batch_calls_key(job_id: int) -> str:
    return f"tests:batch-calls:{job_id}"


class RecordRejected(Exception):
    """The bulk write refused this record; trying again does not help."""


def _every(context: RecordContext, param: str) -> bool:
    every = context.params.get(param)
    return every is not None and int(context.key) % every == 0


async def writes_in_bulk(contexts: Sequence[RecordContext]) -> None:
    """One bulk write for the records of the call; each one's answer is its own."""
    first = contexts[0]
    keys = [context.key for context in contexts]
    await _note(lambda redis: redis.rpush(batch_calls_key(first.job_id), json.dumps(keys)))
    await asyncio.sleep(first.params.get("batchMs", first.params.get("stepMs", 0)) / 1000)
    for context in contexts:
        attempt = context.state["attempt"] = context.state.get("attempt", 0) + 1
        if _every(context, "rejectEvery"):
            context.fail(RecordRejected(f"record {context.key} rejected"))
        elif _every(context, "flakyEvery") and attempt == 1:
            context.fail(ConnectionError("the store dropped the connection"))
        elif _every(context, "skipEvery"):
            context.fail(SkipRecord("already written"))
        elif _every(context, "waitEvery") and context.payload is None:
            context.fail(WaitForAnswer("waiting for approval"))
        else:
            answer = {"approvedBy": context.payload["by"]} if context.payload else {}
            context.set_detail({"batch": len(contexts), "attempt": attempt, **answer})


async def needs_approval(context: RecordContext) -> None:
    """Waits for completeWait; the answer becomes the step's detail."""
    if context.payload is None:
        raise WaitForAnswer("waiting for approval")
    context.set_detail({"approvedBy": context.payload.get("by")})


async def approval_with_deadline(context: RecordContext) -> None:
    """Waits ``waitSeconds`` for an answer; a record nobody answered is skipped."""
    if context.payload is None:
        raise WaitForAnswer("waiting for approval", timeout=timedelta(seconds=context.params["waitSeconds"]))
    if context.payload.get("timedOut"):
        raise SkipRecord("nobody approved in time")
    context.set_detail({"approvedBy": context.payload.get("by")})


async def spawns_children(context: RecordContext) -> None:
    params = {
        "records": context.params.get("childRecords", 3),
        "stepMs": context.params.get("childStepMs", 0),
    }
    for number in range(context.params.get("children", 1)):
        await asyncio.sleep(context.params.get("spawnMs", 0) / 1000)
        await context.spawn_child("test.plain", params, name=f"child {context.key}.{number}")


def _register(name: str, label: str, steps: tuple[Step, ...] = (Step("work", passes),), **flags: Any) -> JobType:
    if name in registry:
        return registry.get(name)
    return registry.register(
        JobType(
            name=name,
            label=label,
            enumerate=numbered,
            steps=steps,
            params_schema=PARAMS_SCHEMA,
            estimate_records=lambda params: params.get("records", 10),
            **flags,
        )
    )


PLAIN = _register("test.plain", "Plain test")
# test.plain for the estimate's own chunks only: an estimate reads how long the type's recent
# chunks took, and other tests' test.plain chunks in the same database took other times.
TIMED = _register("test.timed", "Timed test")
NON_STOPPABLE = _register("test.non_stoppable", "Non-stoppable test", stoppable=False)
NON_RESTARTABLE = _register("test.non_restartable", "Non-restartable test", restartable=False)
SYSTEM = _register("test.system", "System test", system=True, stoppable=False)
COUNTED = _register(
    "test.counted", "Counted test", steps=(Step("count", counted), Step("after", passes)), default_chunk_size=50
)
APPROVAL = _register(
    "test.approval",
    "Approval test",
    steps=(Step("prepare", passes), Step("approve", needs_approval, may_wait=True), Step("send", passes)),
    record_concurrency=8,
)
PARENT = _register("test.parent", "Parent test", steps=(Step("spawn", spawns_children),))
DEADLINE = _register(
    "test.approval_deadline",
    "Approval with a deadline test",
    steps=(Step("approve", approval_with_deadline, may_wait=True), Step("send", passes)),
    record_concurrency=8,
)
BATCH_SIZE = 8
BATCHED = _register(
    "test.batched",
    "Batched test",
    steps=(
        Step("prepare", passes),
        Step("write", run_batch=writes_in_bulk, batch_size=BATCH_SIZE, retries=1, may_wait=True),
        Step("after", passes),
    ),
    default_chunk_size=20,
)
# Each attempt outlives the lease of tests.cluster.FAST_SETTINGS (3 s): were the heartbeat to
# stop while a step hangs, the chunk would be taken back and run again.
HANGING_STEP_TIMEOUT = timedelta(seconds=4)
HANGING = _register(
    "test.hanging",
    "Hanging test",
    steps=(Step("hang", hangs, retries=1, timeout=HANGING_STEP_TIMEOUT), Step("after", passes)),
)
STUBBORN = _register("test.stubborn", "Stubborn test", steps=(Step("stuck", will_not_be_cancelled),))
