"""The monthly record limit: admission reserves a job's records, its end settles them.

A job's estimated records are held for it from admission on, so two jobs can never
together promise more than the month has; when the job ends, what it processed is
used and the rest of its reservation is given back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from domain import chunks, execution, jobs
from domain.clock import utcnow
from domain.errors import InvalidTransition, PlanLimitExceeded
from domain.models import Chunk, Job
from domain.registry import JobType, Step, registry
from domain.statuses import ChunkOperation, ChunkStatus, JobStatus, RecordStatus
from domain.usage import plan_usage
from tests.domain.scenarios import add_chunk, put_in, start
from tests.job_types import numbered, passes

LEASE = timedelta(seconds=30)
WORKER = "worker-1"
R = RecordStatus

# A type that cannot tell how many records its params will produce.
UNSIZED = "test.unsized"
if UNSIZED not in registry:
    registry.register(JobType(name=UNSIZED, enumerate=numbered, steps=(Step("work", passes),)))


async def usage_of(tenant) -> tuple[int, int, int]:
    """(jobs used, records used, records reserved) this month, as the tenant sees them."""
    usage = await plan_usage(tenant.actor())
    return usage.jobs_used, usage.records_used, usage.records_reserved


async def take(job: Job, chunk: Chunk) -> None:
    """What a free worker slot does with a chunk: claim it, then start its records."""
    assert await chunks.claim(chunk.id, WORKER, LEASE)
    assert await execution.start_chunk(execution.ClaimedChunk(chunk, await Job.get(id=job.id), {}), WORKER)


async def run_through_workers(job: Job, outcomes: Sequence[RecordStatus]) -> Job:
    """What workers do, through the verbs they call: enumerate one record per outcome, run them
    chunk by chunk, release each chunk. The job finishes when the last chunk is released."""
    await execution.begin_enumeration(job.id, LEASE)
    await execution.add_chunks(job, 0, 0, [f"k{n}" for n in range(len(outcomes))])
    await execution.end_enumeration(job.id, len(outcomes))
    for chunk in await Chunk.filter(job_id=job.id).order_by("index"):
        await take(job, chunk)
        now = utcnow()
        results = [
            execution.RecordResult(
                position=position,
                key=chunk.keys[position - chunk.range_start],
                status=outcomes[position],
                started_at=now,
                ended_at=now,
                journey=[],
            )
            for position in range(chunk.range_start, chunk.range_end)
        ]
        assert await execution.save_results(job, chunk.id, WORKER, results, chunk.range_end)
        assert await execution.release_chunk(chunk.id, WORKER, ChunkOperation.COMPLETE)
    return await Job.get(id=job.id)


# ---------------------------------------------------------------- reserving at admission


async def test_records_an_admitted_job_will_run_are_reserved_against_the_limit(make_tenant):
    tenant = await make_tenant(records_per_month=3000)
    operator = tenant.actor()
    first = await start(operator, params={"records": 2000})

    with pytest.raises(PlanLimitExceeded) as refused:
        await start(operator, params={"records": 2000})

    assert (refused.value.resource, refused.value.limit, refused.value.used, refused.value.requested) == (
        "records", 3000, 2000, 2000
    )
    assert await Job.filter(tenant_id=tenant.tenant.id).values_list("id", flat=True) == [first.id]
    assert await usage_of(tenant) == (1, 0, 2000)
    assert (await start(operator, params={"records": 1000})).status is JobStatus.PENDING
    assert await usage_of(tenant) == (2, 0, 3000)


async def test_a_job_of_unknown_size_is_refused_once_the_month_is_fully_reserved(make_tenant):
    tenant = await make_tenant(records_per_month=100)
    operator = tenant.actor()
    await start(operator, params={"records": 100})

    with pytest.raises(PlanLimitExceeded) as refused:
        await start(operator, UNSIZED)

    assert (refused.value.limit, refused.value.used, refused.value.requested) == (100, 100, 0)
    assert await usage_of(tenant) == (1, 0, 100)


# ---------------------------------------------------------------- settling at the end


async def test_a_finished_job_uses_what_it_ran_and_gives_back_the_rest(make_tenant):
    tenant = await make_tenant(records_per_month=3000)
    operator = tenant.actor()
    # Estimated at 2,000, but only 500 records turned up when the job enumerated them.
    job = await start(operator, params={"records": 2000}, chunk_size=200)

    finished = await run_through_workers(job, [R.SUCCEEDED] * 490 + [R.FAILED] * 6 + [R.SKIPPED] * 4)

    assert finished.status is JobStatus.FINISHED
    assert await usage_of(tenant) == (1, 500, 0)
    # What was given back is there for the next job.
    assert (await start(operator, params={"records": 2500})).status is JobStatus.PENDING
    assert await usage_of(tenant) == (2, 500, 2500)


async def test_records_count_once_when_the_job_ends_not_chunk_by_chunk(make_tenant):
    tenant = await make_tenant(records_per_month=1000)
    job = await start(tenant.actor(), params={"records": 300}, chunk_size=100)
    await execution.begin_enumeration(job.id, LEASE)
    await execution.add_chunks(job, 0, 0, [f"k{n}" for n in range(300)])
    await execution.end_enumeration(job.id, 300)
    first = await Chunk.get(job_id=job.id, index=0)
    await take(job, first)
    now = utcnow()
    results = [execution.RecordResult(n, f"k{n}", R.SUCCEEDED, now, now, []) for n in range(100)]
    await execution.save_results(job, first.id, WORKER, results, 100)

    await execution.release_chunk(first.id, WORKER, ChunkOperation.COMPLETE)

    # The job runs on: its 300 records are still reserved, none used yet, none counted twice.
    assert (await Job.get(id=job.id)).status is JobStatus.RUNNING
    assert await usage_of(tenant) == (1, 0, 300)


async def test_a_job_canceled_before_it_ran_gives_back_its_whole_reservation(make_tenant):
    tenant = await make_tenant(records_per_month=3000)
    operator = tenant.actor()
    job = await start(operator, params={"records": 2000})

    canceled = await jobs.cancel_job(operator, job.id)

    assert canceled.status is JobStatus.CANCELED
    assert await usage_of(tenant) == (1, 0, 0)


async def test_a_failed_job_uses_the_records_it_ran(make_tenant):
    tenant = await make_tenant(records_per_month=3000)
    operator = tenant.actor()
    job = await put_in(await start(operator, params={"records": 2000}), JobStatus.RUNNING)
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [R.SUCCEEDED] * 3)
    await Job.filter(id=job.id).update(done=3, succeeded=3)

    failed = await jobs.fail_job(job.id, "the CRM went away")

    assert failed is not None and failed.status is JobStatus.FAILED
    assert await usage_of(tenant) == (1, 3, 0)


async def test_a_stopped_job_keeps_its_reservation_for_when_it_resumes(make_tenant):
    tenant = await make_tenant(records_per_month=3000)
    operator = tenant.actor()
    job = await start(operator, params={"records": 2000})

    await jobs.stop_job(operator, job.id)

    assert await usage_of(tenant) == (1, 0, 2000)
    with pytest.raises(PlanLimitExceeded):
        await start(operator, params={"records": 2000})


async def test_a_job_settles_once_however_many_times_its_end_is_reported(make_tenant):
    tenant = await make_tenant(records_per_month=3000)
    operator = tenant.actor()
    job = await start(operator, params={"records": 20}, chunk_size=10)
    await run_through_workers(job, [R.SUCCEEDED] * 5)

    assert await jobs.finish_job(job.id) is None  # already over
    with pytest.raises(InvalidTransition):
        await jobs.cancel_job(operator, job.id)

    assert await usage_of(tenant) == (1, 5, 0)


async def test_a_retry_reserves_only_the_records_it_runs_again(make_tenant):
    tenant = await make_tenant(records_per_month=700)
    operator = tenant.actor()
    old = await put_in(await start(operator, params={"records": 500}), JobStatus.RUNNING)
    await add_chunk(old, 0, ChunkStatus.COMPLETED, [R.SUCCEEDED] * 2 + [R.FAILED] * 3)
    await Job.filter(id=old.id).update(done=5, succeeded=2, failed=3)
    await jobs.finish_job(old.id)
    assert await usage_of(tenant) == (1, 5, 0)

    retry = await jobs.retry_failed_records(operator, old.id)

    assert retry.records_reserved == 3
    assert await usage_of(tenant) == (2, 5, 3)
