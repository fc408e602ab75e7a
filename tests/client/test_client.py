"""What a bot does with the generated client over real HTTP and WebSocket: start a job once per
idempotency key, follow it to the end, read it back typed, page its records, steer it, and tell a
refusal by its type."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from datetime import datetime

import pytest

from domain.access import Role
from jobtower_client import (
    CancelJobCancelJobInvalidTransitionError,
    CancelJobCancelJobJobOperationSuccess,
    Client,
    CompleteWaitCompleteWaitRecordOperationSuccess,
    EventKind,
    GraphQLClientGraphQLMultiError,
    JobFilter,
    JobOutcome,
    JobStatus,
    RecordStatus,
    RestartJobRestartJobJobStarted,
    ResumeJobResumeJobJobOperationSuccess,
    StartJobInput,
    StartJobStartJobForbiddenError,
    StartJobStartJobJobStarted,
    StartJobStartJobUnknownJobTypeError,
    StepStatus,
    StopJobStopJobJobOperationSuccess,
    WaitingReason,
    enums,
)
from jobtower_client.job_updated import JobUpdatedJobUpdated
from tests.client.conftest import Bot
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture


async def start(client: Client, job_type: str, name: str, key: str | None = None, **params: object) -> str:
    started = (
        await client.start_job(StartJobInput(type=job_type, name=name, params=params, idempotency_key=key))
    ).start_job
    assert isinstance(started, StartJobStartJobJobStarted), started
    return started.job.id


async def reaches(client: Client, job_id: str, status: JobStatus, timeout: float = 60):
    async def reached():
        job = (await client.get_job(job_id)).job
        return job if job is not None and job.status is status else None

    return await wait_until(reached, timeout=timeout, what=f"job {job_id} to be {status}")


async def test_a_bot_starts_a_job_once_per_key_follows_it_to_the_end_and_pages_its_records(bot: Bot, cluster: Cluster):
    client = await bot(Role.OPERATOR)
    job_id = await start(client, "test.plain", "nightly sync", key="sync-2026-12-01", records=25, stepMs=5)
    assert await start(client, "test.plain", "nightly sync", key="sync-2026-12-01", records=25, stepMs=5) == job_id

    # The bot sees the job created, drops its connection, and resumes after the last seq it saw.
    async with asyncio.timeout(30), aclosing(client.job_updated(job_id, after_seq=0)) as updates:
        events: list[JobUpdatedJobUpdated] = [(await anext(updates)).job_updated]
    cluster.start_worker(worker_concurrency=2)
    cluster.start_dispatcher()
    async with asyncio.timeout(90), aclosing(client.job_updated(job_id, after_seq=events[-1].seq)) as updates:
        async for update in updates:
            events.append(update.job_updated)
            if update.job_updated.to_status is JobStatus.FINISHED:
                break

    moves = [event for event in events if event.kind is not EventKind.PROGRESS]
    assert [(event.kind, event.to_status) for event in moves] == [
        (EventKind.CREATED, JobStatus.PENDING),
        (EventKind.STATUS_CHANGED, JobStatus.RUNNING),
        (EventKind.STATUS_CHANGED, JobStatus.FINISHED),
    ]
    assert [event.seq for event in moves] == [1, 2, 3]
    assert all(isinstance(event.at, datetime) and event.at.tzinfo is not None for event in events)

    job = (await client.get_job(job_id)).job
    assert job is not None
    assert (job.status, job.outcome, job.waiting_reason) == (JobStatus.FINISHED, JobOutcome.SUCCEEDED, None)
    assert job.created_at <= job.started_at <= job.ended_at
    assert (job.progress.total, job.progress.done, job.progress.succeeded) == (25, 25, 25)
    assert job.params == {"records": 25, "stepMs": 5}

    keys, after = [], None
    while True:
        page = (await client.job_records(job_id, first=10, after=after)).job.records
        assert page.total_count == 25
        keys += [edge.node.key for edge in page.edges]
        if not page.page_info.has_next_page:
            break
        after = page.page_info.end_cursor
    assert keys == [str(number) for number in range(25)]
    record = page.edges[-1].node
    assert record.status is RecordStatus.SUCCEEDED
    assert [(step.name, step.status) for step in record.journey] == [("work", StepStatus.SUCCEEDED)]
    assert isinstance(record.journey[0].started_at, datetime)
    failed = (await client.job_records(job_id, status=[RecordStatus.FAILED])).job.records
    assert (failed.total_count, failed.edges) == (0, [])

    refused = (await client.cancel_job(job_id)).cancel_job
    assert isinstance(refused, CancelJobCancelJobInvalidTransitionError)
    assert (refused.code, refused.status, refused.operation) == ("INVALID_TRANSITION", "FINISHED", "CANCEL")

    restarted = (await client.restart_job(job_id)).restart_job
    assert isinstance(restarted, RestartJobRestartJobJobStarted)
    assert restarted.job.id != job_id
    assert (await client.get_job(restarted.job.id)).job.restarted_from.id == job_id


async def test_a_bot_stops_resumes_and_cancels_a_job_that_waits_to_start(bot: Bot):
    client = await bot(Role.OPERATOR)
    job_id = await start(client, "test.plain", "stop and resume", records=5)
    assert isinstance((await client.get_job(job_id)).job.waiting_reason, WaitingReason)

    stopped = (await client.stop_job(job_id)).stop_job
    assert isinstance(stopped, StopJobStopJobJobOperationSuccess)
    assert (stopped.job.status, stopped.job.waiting_reason) == (JobStatus.STOPPED, WaitingReason.STOPPED)
    resumed = (await client.resume_job(job_id)).resume_job
    assert isinstance(resumed, ResumeJobResumeJobJobOperationSuccess)
    assert resumed.job.status is JobStatus.PENDING
    canceled = (await client.cancel_job(job_id)).cancel_job
    assert isinstance(canceled, CancelJobCancelJobJobOperationSuccess)
    assert canceled.job.status is JobStatus.CANCELED
    again = (await client.cancel_job(job_id)).cancel_job
    assert isinstance(again, CancelJobCancelJobInvalidTransitionError)


async def test_a_bot_answers_the_records_that_wait_for_it(bot: Bot, cluster: Cluster):
    client = await bot(Role.OPERATOR)
    job_id = await start(client, "test.approval", "approvals", records=3)
    cluster.start_worker()
    cluster.start_dispatcher()
    waiting = await reaches(client, job_id, JobStatus.WAITING)
    assert waiting.waiting_reason is WaitingReason.EXTERNAL_STEP

    records = (await client.job_records(job_id, status=[RecordStatus.WAITING])).job.records
    assert records.total_count == 3
    for edge in records.edges:
        answered = (await client.complete_wait(edge.node.id, payload={"by": "approval bot"})).complete_wait
        assert isinstance(answered, CompleteWaitCompleteWaitRecordOperationSuccess), answered
    await reaches(client, job_id, JobStatus.FINISHED)

    journey = (await client.job_records(job_id, first=1)).job.records.edges[0].node.journey
    approve = next(step for step in journey if step.name == "approve")
    assert approve.detail == {"approvedBy": "approval bot"}
    assert approve.answered_by == "operator token"


async def test_a_bot_lists_its_jobs_page_by_page_with_a_filter(bot: Bot, acme: TenantFixture):
    client = await bot(Role.OPERATOR)
    started = [await start(client, "test.plain", f"campaign {number}", records=1) for number in range(3)]
    await start(client, "test.plain", "another thing", records=1)

    campaigns = JobFilter(search="campaign", status=[JobStatus.PENDING])
    first = (await client.list_jobs(first=2, filter_=campaigns)).jobs
    assert first.total_count == 3 and first.page_info.has_next_page
    rest = (await client.list_jobs(first=2, after=first.page_info.end_cursor, filter_=campaigns)).jobs
    assert not rest.page_info.has_next_page
    # Newest first.
    assert [edge.node.id for edge in first.edges + rest.edges] == started[::-1]

    viewer = (await client.viewer()).viewer
    assert (viewer.role, viewer.tenant.slug) == (enums.Role.OPERATOR, acme.tenant.slug)
    usage = (await client.usage()).usage
    assert usage.jobs_used == 4 and usage.jobs_limit is None


async def test_refusals_come_back_typed_and_query_errors_as_graphql_errors(bot: Bot):
    viewer = await bot(Role.VIEWER)
    unknown = (await (await bot(Role.OPERATOR)).start_job(StartJobInput(type="no.such.type"))).start_job
    assert isinstance(unknown, StartJobStartJobUnknownJobTypeError)
    assert unknown.job_type == "no.such.type"

    forbidden = (await viewer.start_job(StartJobInput(type="test.plain"))).start_job
    assert isinstance(forbidden, StartJobStartJobForbiddenError)
    assert (forbidden.code, forbidden.needed_role) == ("FORBIDDEN", "OPERATOR")

    with pytest.raises(GraphQLClientGraphQLMultiError) as refused:
        await viewer.list_jobs(first=1000)
    assert [error.message for error in refused.value.errors] == ["first: must be between 0 and 100"]
