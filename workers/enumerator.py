"""Turns a job's records into chunks, streaming, so a million keys never sit in memory at once
(a small job's are written at its admission: ``domain.enumeration``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from domain.enumeration import record_key
from domain.execution import (
    add_chunks,
    begin_enumeration,
    end_enumeration,
    enumerated_job_status,
    enumeration_failed,
    extend_enumeration,
    failed_record_keys,
    release_enumerations,
)
from domain.models import Job
from domain.registry import registry
from domain.statuses import IN_FLIGHT, JobStatus
from jobtower import tracing
from jobtower.tracing import JOB_ID, JOB_TYPE, OUTCOME, RECORDS

log = logging.getLogger(__name__)

# Chunk rows written per round trip while enumerating, and at most this many keys
# held at once, so big chunks do not make the buffer big. The first round writes one
# chunk and each next one twice as many, up to these: the first records start as soon
# as one chunk's keys are known, whatever the job's size.
CHUNKS_PER_ROUND = 100
KEYS_PER_ROUND = 100_000


async def enumerate_job(
    job_id: int, lease: timedelta, chunks_ready: Callable[[int], Awaitable[None]], draining: asyncio.Event
) -> None:
    """``chunks_ready`` is told how many chunks each round wrote, so they start at once. Once
    ``draining`` is set the enumeration stops at its next key and is handed out again at once;
    the next one writes the same chunks again (``add_chunks`` is safe to repeat)."""
    job = await begin_enumeration(job_id, lease)
    if job is None:
        return
    with tracing.span("enumerate", job.trace_context, {JOB_ID: job.id, JOB_TYPE: job.type}) as span:
        try:
            async with _held(job.id, lease):
                total = await _create_chunks(job, chunks_ready, draining)
        except Exception as error:  # the job type's enumerator raised: the run fails, with why
            await enumeration_failed(job.id, f"{type(error).__name__}: {error}")
            span.set_attribute(OUTCOME, "failed")
            return
        if total is None:
            if draining.is_set():
                await release_enumerations(job.id)
            span.set_attribute(OUTCOME, "abandoned")
            return
        await end_enumeration(job.id, total)
        span.set_attribute(OUTCOME, "enumerated")
        span.set_attribute(RECORDS, total)


@asynccontextmanager
async def _held(job_id: int, lease: timedelta) -> AsyncIterator[None]:
    """The enumeration's hold renewed every third of its lease while the block runs, however
    long a round of keys takes, so the dispatcher never hands it out to a second worker."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                await extend_enumeration(job_id, lease)
            except Exception as error:  # the database blinked: the hold has slack; try again
                log.warning("job %s: could not renew its enumeration's hold: %s", job_id, error)

    renewing = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)


async def _create_chunks(
    job: Job, chunks_ready: Callable[[int], Awaitable[None]], draining: asyncio.Event
) -> int | None:
    """The number of records, or None when the job stopped being runnable meanwhile (read after
    each round) or the worker drains."""
    largest_round = job.chunk_size * max(1, min(CHUNKS_PER_ROUND, KEYS_PER_ROUND // job.chunk_size))
    round_size = job.chunk_size
    buffer: list[str] = []
    position = index = 0
    async for key in _keys(job):
        if draining.is_set():
            return None
        buffer.append(record_key(key))
        if len(buffer) >= round_size:
            added = await add_chunks(job, index, position, buffer)
            await chunks_ready(added)
            index += added
            position += len(buffer)
            buffer = []
            round_size = min(2 * round_size, largest_round)
            status = await enumerated_job_status(job.id)
            if status is None or (status not in IN_FLIGHT and status is not JobStatus.PENDING):
                return None
    if buffer:
        await chunks_ready(await add_chunks(job, index, position, buffer))
        position += len(buffer)
    return position


async def _keys(job: Job) -> AsyncIterator[str]:
    if job.retry_failed and job.restarted_from_id is not None:
        for key in await failed_record_keys(job.restarted_from_id):
            yield key
        return
    async for key in registry.get(job.type).enumerate(job.params):
        yield key
