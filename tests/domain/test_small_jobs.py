"""A job whose records fit one chunk has that chunk the moment startJob answers, so the first
free slot runs it with no enumeration first (``domain.enumeration``); any other job, and a small
one whose enumerator is not done at once, is left for a worker to enumerate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from domain.access import Actor
from domain.enumeration import ADMISSION_SECONDS
from domain.errors import PlanLimitExceeded
from domain.jobs import StartJobRequest, start_job
from domain.models import Chunk, Job
from domain.registry import JobType, Step, registry
from domain.statuses import ChunkStatus, JobStatus
from tests.job_types import passes


async def misestimated(params: Mapping[str, Any]) -> AsyncIterator[str]:
    """Gives ``keys`` keys, whatever the type estimates (``records``); fails at ``failAt``."""
    for number in range(params["keys"]):
        if number == params.get("failAt"):
            raise ConnectionError("the source went away")
        yield f"k{number}"


MISESTIMATED = registry.get("test.misestimated") if "test.misestimated" in registry else registry.register(
    JobType(
        name="test.misestimated",
        enumerate=misestimated,
        steps=(Step("work", passes),),
        estimate_records=lambda params: params["records"],
    )
)


async def start(actor: Actor, type: str = "test.plain", **request: Any) -> Job:
    return await start_job(actor, StartJobRequest(type=type, **request))


async def chunks_of(job: Job) -> list[tuple[int, ChunkStatus, int, int, list[str]]]:
    return [
        (chunk.index, chunk.status, chunk.range_start, chunk.range_end, chunk.keys)
        for chunk in await Chunk.filter(job_id=job.id).order_by("index")
    ]


async def test_a_job_that_fits_one_chunk_has_it_when_start_job_answers(acme):
    job = await start(acme.actor(), params={"records": 3}, chunk_size=5)

    stored = await Job.get(id=job.id)
    assert (stored.status, stored.enumerated, stored.total) == (JobStatus.PENDING, True, 3)
    assert await chunks_of(job) == [(0, ChunkStatus.PENDING, 0, 3, ["0", "1", "2"])]
    (chunk,) = await Chunk.filter(job_id=job.id)
    assert chunk.ready_at is not None and chunk.ready_at >= stored.created_at


@pytest.mark.parametrize(
    ("params", "chunk_size"),
    [
        pytest.param({"records": 6}, 5, id="two chunks"),
        pytest.param({"records": 0}, 5, id="no records"),
        pytest.param({"records": 1001}, 2000, id="more keys than startJob reads"),
    ],
)
async def test_a_job_estimated_beyond_one_chunk_is_left_for_a_worker_to_enumerate(acme, params, chunk_size):
    job = await start(acme.actor(), params=params, chunk_size=chunk_size)

    stored = await Job.get(id=job.id)
    assert (stored.status, stored.enumerated, stored.total) == (JobStatus.PENDING, False, None)
    assert await chunks_of(job) == []


@pytest.mark.parametrize(
    ("type", "params"),
    [
        pytest.param("test.misestimated", {"records": 2, "keys": 6}, id="more keys than one chunk holds"),
        pytest.param("test.misestimated", {"records": 2, "keys": 2, "failAt": 1}, id="its enumerator fails"),
        pytest.param(
            "test.plain", {"records": 2, "keyMs": ADMISSION_SECONDS * 1000}, id="its enumerator takes its time"
        ),
    ],
)
async def test_a_small_job_whose_keys_are_not_at_hand_at_once_is_left_for_a_worker(acme, type, params):
    asked = asyncio.get_running_loop().time()
    job = await start(acme.actor(), type, params=params, chunk_size=5)
    answered = asyncio.get_running_loop().time() - asked

    stored = await Job.get(id=job.id)
    assert (stored.status, stored.enumerated, stored.total) == (JobStatus.PENDING, False, None)
    assert await chunks_of(job) == []
    assert answered < ADMISSION_SECONDS * 4  # the enumerator was given up on, not waited out


async def test_a_small_job_refused_by_the_plan_leaves_no_chunk(make_tenant):
    tenant = await make_tenant(records_per_month=2)

    with pytest.raises(PlanLimitExceeded):
        await start(tenant.actor(), params={"records": 3}, chunk_size=5)

    assert await Job.filter(tenant_id=tenant.tenant.id).count() == 0
    assert await Chunk.filter(job__tenant_id=tenant.tenant.id).count() == 0
