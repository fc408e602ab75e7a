"""The live-ops summary (``domain.liveops``) and the stall rule (``domain.health``)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from domain.access import Actor, Role
from domain.clock import utcnow
from domain.health import is_stalled
from domain.liveops import LISTED_JOBS, LiveOpsFigures, StatusCount, platform_job_counts
from domain.models import Chunk, Job, Tenant
from domain.partitions import shared_partition
from domain.registry import JobType, Step, registry
from domain.statuses import ChunkStatus, JobStatus
from tests.job_types import numbered, passes

SLOW_TYPE = "test.slow_progress"
if SLOW_TYPE not in registry:
    registry.register(
        JobType(
            name=SLOW_TYPE,
            enumerate=numbered,
            steps=(Step("work", passes),),
            stall_threshold=timedelta(minutes=30),
        )
    )

MINUTE = timedelta(minutes=1)
NOW = utcnow()


def ago(delta: timedelta | None) -> datetime | None:
    return None if delta is None else NOW - delta


async def job(
    tenant: Tenant,
    status: JobStatus,
    *,
    created: timedelta = 120 * MINUTE,
    started: timedelta | None = None,
    progress: timedelta | None = None,
    ended: timedelta | None = None,
    type: str = "test.plain",
    hidden: bool = False,
    system: bool = False,
    stoppable: bool = True,
) -> Job:
    """A job whose timestamps lie ``created``/``started``/… before ``NOW``."""
    if started is None and status is not JobStatus.PENDING:
        started = created - MINUTE
    return await Job.create(
        tenant_id=tenant.id,
        partition_id=await shared_partition(utcnow()),
        type=type,
        name=type,
        chunk_size=10,
        status=status,
        created_at=ago(created),
        started_at=ago(started),
        last_progress_at=ago(progress),
        ended_at=ago(ended),
        hidden=hidden,
        system=system,
        stoppable=stoppable,
    )


async def chunks(job: Job, *statuses: ChunkStatus, lease_owner: str | None = None) -> None:
    count = await Chunk.filter(job_id=job.id).count()
    for index, status in enumerate(statuses, start=count):
        await Chunk.create(
            job_id=job.id,
            index=index,
            status=status,
            range_start=index * 10,
            range_end=index * 10 + 10,
            cursor=index * 10,
            lease_owner=lease_owner,
            lease_expires_at=NOW + MINUTE if lease_owner else None,
        )


async def stall_flags(jobs: list[Job], workers_online: int) -> list[bool]:
    """``is_stalled`` of each job as read back from the database."""
    return [is_stalled(await Job.get(id=j.id), NOW, workers_online) for j in jobs]


def counts(**nonzero: int) -> tuple[StatusCount, ...]:
    return tuple(StatusCount(status, nonzero.get(status.value, 0)) for status in JobStatus)


def platform() -> Actor:
    return Actor(tenant_id=0, role=Role.PLATFORM, name="platform operator")


async def test_counts_by_status_list_every_status_of_the_jobs_in_the_job_list(acme, make_tenant):
    t = acme.tenant
    await job(t, JobStatus.PENDING)
    await job(t, JobStatus.PENDING)
    await job(t, JobStatus.RUNNING, progress=MINUTE)
    await job(t, JobStatus.FINISHED, ended=MINUTE)
    await job(t, JobStatus.FAILED, ended=MINUTE, hidden=True)
    await job(t, JobStatus.RUNNING, progress=MINUTE, type="test.system", system=True)
    other = await make_tenant()
    await job(other.tenant, JobStatus.STOPPED, ended=MINUTE)

    for_operator = await LiveOpsFigures(acme.actor(Role.VIEWER), workers_online=1, now=NOW).summary()
    for_admin = await LiveOpsFigures(acme.actor(Role.ADMIN), workers_online=1, now=NOW).summary()

    assert for_operator.counts == counts(PENDING=2, RUNNING=1, FINISHED=1)
    assert for_admin.counts == counts(PENDING=2, RUNNING=2, FINISHED=1)


async def test_a_running_job_stalls_after_its_types_threshold_without_progress(acme):
    t = acme.tenant
    stalled = [
        await job(t, JobStatus.RUNNING, progress=10 * MINUTE),
        await job(t, JobStatus.RUNNING, started=6 * MINUTE),  # no chunk boundary yet
        await job(t, JobStatus.RUNNING, progress=31 * MINUTE, type=SLOW_TYPE),
        # A type no longer registered gets the default five minutes.
        await job(t, JobStatus.RUNNING, progress=6 * MINUTE, type="retired.type"),
    ]
    lively = [
        await job(t, JobStatus.RUNNING, started=60 * MINUTE, progress=MINUTE),
        await job(t, JobStatus.RUNNING, started=4 * MINUTE),
        await job(t, JobStatus.RUNNING, progress=10 * MINUTE, type=SLOW_TYPE),
        # Only RUNNING jobs stall: a waiting one waits on people.
        await job(t, JobStatus.WAITING, progress=60 * MINUTE),
        await job(t, JobStatus.PENDING, created=60 * MINUTE),
    ]
    await job(t, JobStatus.RUNNING, progress=60 * MINUTE, hidden=True)

    summary = await LiveOpsFigures(acme.actor(), workers_online=2, now=NOW).summary()

    assert summary.stalled == 4
    # Listed longest without progress first: a few minutes' quiet before half an hour's.
    assert summary.stalled_job_ids == tuple(j.id for j in (stalled[2], stalled[0], stalled[1], stalled[3]))
    assert await stall_flags(stalled, workers_online=2) == [True] * 4
    assert await stall_flags(lively, workers_online=2) == [False] * 5


async def test_every_running_job_is_stalled_when_no_worker_is_online(acme):
    t = acme.tenant
    running = [
        await job(t, JobStatus.RUNNING, progress=MINUTE),
        await job(t, JobStatus.RUNNING, started=MINUTE),
    ]
    waiting = await job(t, JobStatus.WAITING, progress=MINUTE)

    summary = await LiveOpsFigures(acme.actor(), workers_online=0, now=NOW).summary()

    assert (summary.stalled, summary.workers_online) == (2, 0)
    assert await stall_flags([*running, waiting], workers_online=0) == [True, True, False]


async def test_failed_in_the_last_24_hours(acme):
    t = acme.tenant
    latest = await job(t, JobStatus.FAILED, ended=120 * MINUTE)
    earlier = await job(t, JobStatus.FAILED, created=30 * 60 * MINUTE, ended=(24 * 60 - 1) * MINUTE)
    await job(t, JobStatus.FAILED, created=30 * 60 * MINUTE, ended=(24 * 60 + 1) * MINUTE)
    await job(t, JobStatus.FINISHED, ended=MINUTE)
    await job(t, JobStatus.FAILED, ended=MINUTE, hidden=True)

    summary = await LiveOpsFigures(acme.actor(), workers_online=1, now=NOW).summary()

    assert summary.failed_last_24h == 2
    assert summary.failed_job_ids_last_24h == (latest.id, earlier.id)


async def test_a_few_stalled_and_failed_jobs_are_listed_however_many_there_are(acme):
    t = acme.tenant
    for n in range(LISTED_JOBS + 2):
        await job(t, JobStatus.RUNNING, progress=(10 + n) * MINUTE)
        await job(t, JobStatus.FAILED, ended=(10 + n) * MINUTE)

    summary = await LiveOpsFigures(acme.actor(), workers_online=1, now=NOW).summary()

    assert (summary.stalled, summary.failed_last_24h) == (LISTED_JOBS + 2, LISTED_JOBS + 2)
    assert len(summary.stalled_job_ids) == len(summary.failed_job_ids_last_24h) == LISTED_JOBS


async def test_average_wait_of_the_jobs_started_in_the_last_hour(acme, make_tenant):
    t = acme.tenant
    await job(t, JobStatus.RUNNING, created=10 * MINUTE + timedelta(seconds=30), started=10 * MINUTE)
    await job(t, JobStatus.FINISHED, created=51.5 * MINUTE, started=50 * MINUTE, ended=MINUTE)
    await job(t, JobStatus.RUNNING, created=130 * MINUTE, started=61 * MINUTE)  # started too long ago
    await job(t, JobStatus.RUNNING, created=90 * MINUTE, started=5 * MINUTE, hidden=True)
    idle = await make_tenant()
    await job(idle.tenant, JobStatus.PENDING)

    summary = await LiveOpsFigures(acme.actor(), workers_online=1, now=NOW).summary()
    nothing_started = await LiveOpsFigures(idle.actor(), workers_online=1, now=NOW).summary()

    assert summary.avg_wait_seconds_last_hour == 60.0  # (30 + 90) / 2
    assert nothing_started.avg_wait_seconds_last_hour is None


async def test_queue_depth_counts_pending_chunks_of_jobs_that_may_run(acme, make_tenant):
    t = acme.tenant
    pending = await job(t, JobStatus.PENDING)
    await chunks(pending, ChunkStatus.PENDING, ChunkStatus.PENDING, ChunkStatus.PENDING)
    running = await job(t, JobStatus.RUNNING, progress=MINUTE)
    await chunks(running, ChunkStatus.COMPLETED, ChunkStatus.RUNNING, ChunkStatus.PENDING)
    await chunks(await job(t, JobStatus.WAITING), ChunkStatus.PENDING)
    # A non-stoppable type keeps working when asked to stop; a stoppable one does not.
    await chunks(await job(t, JobStatus.STOPPING, stoppable=False), ChunkStatus.PENDING)
    await chunks(await job(t, JobStatus.STOPPING), ChunkStatus.PENDING)
    await chunks(await job(t, JobStatus.CANCELING), ChunkStatus.PENDING)
    await chunks(await job(t, JobStatus.STOPPED, ended=MINUTE), ChunkStatus.STOPPED)
    # Hidden jobs still load the workers.
    await chunks(await job(t, JobStatus.PENDING, hidden=True), ChunkStatus.PENDING, ChunkStatus.PENDING)
    other = await make_tenant()
    await chunks(await job(other.tenant, JobStatus.PENDING), ChunkStatus.PENDING)

    summary = await LiveOpsFigures(acme.actor(), workers_online=3, now=NOW).summary()

    assert summary.queue_depth == 3 + 1 + 1 + 1 + 2
    assert summary.workers_online == 3


async def test_the_platform_sees_every_tenant(acme, make_tenant):
    other = await make_tenant()
    before = await LiveOpsFigures(platform(), workers_online=1, now=NOW).summary()

    await job(acme.tenant, JobStatus.RUNNING, progress=10 * MINUTE)
    await chunks(await job(other.tenant, JobStatus.PENDING), ChunkStatus.PENDING)
    await job(other.tenant, JobStatus.FAILED, ended=MINUTE)
    after = await LiveOpsFigures(platform(), workers_online=1, now=NOW).summary()
    for_acme = await LiveOpsFigures(acme.actor(), workers_online=1, now=NOW).summary()

    grew = {
        later.status: later.count - earlier.count
        for later, earlier in zip(after.counts, before.counts, strict=True)
        if later.count != earlier.count
    }
    assert grew == {JobStatus.RUNNING: 1, JobStatus.PENDING: 1, JobStatus.FAILED: 1}
    assert after.stalled - before.stalled == 1
    assert after.failed_last_24h - before.failed_last_24h == 1
    assert after.queue_depth - before.queue_depth == 1
    assert for_acme.counts == counts(RUNNING=1)
    assert (for_acme.failed_last_24h, for_acme.queue_depth) == (0, 0)


async def counted_by_scanning() -> tuple[StatusCount, ...]:
    return (await LiveOpsFigures(platform(), workers_online=1, now=NOW).summary()).counts


async def test_the_platform_counts_follow_every_change_of_a_job_whatever_the_statement(acme):
    moved = await job(acme.tenant, JobStatus.PENDING)
    shown = await job(acme.tenant, JobStatus.PENDING, hidden=True)
    deleted = await job(acme.tenant, JobStatus.FINISHED, ended=MINUTE)
    dismissed = await job(acme.tenant, JobStatus.RUNNING, progress=MINUTE)
    assert await platform_job_counts() == await counted_by_scanning()

    await Job.filter(id=moved.id).update(status=JobStatus.RUNNING)
    await Job.filter(id=shown.id).update(hidden=False)
    await Job.filter(id=deleted.id).delete()
    await Job.filter(id=dismissed.id).update(hidden=True, status=JobStatus.STOPPING)
    await Job.filter(id=moved.id).update(name="renamed")  # no status or hidden change: no count

    # Two reads at once (two API processes scraped together) fold each change once.
    first, second = await asyncio.gather(platform_job_counts(), platform_job_counts())
    assert first == second == await counted_by_scanning()
