"""Small helpers the worker tests share: start a job, read it back, wait for a status."""

from __future__ import annotations

from typing import Any

from tortoise.expressions import F

from domain import chunks
from domain.access import Actor, Role
from domain.clock import utcnow
from domain.errors import InvalidTransition, JobNotStoppable
from domain.jobs import StartJobRequest, cancel_job, force_stop_job, start_job
from domain.models import BulkOperation, Chunk, Job, Record
from domain.partitions import shared_partition
from domain.statuses import BULK_OPEN, CHUNK_OPEN, TERMINAL, BulkOperationStatus, ChunkStatus, JobStatus
from tests.cluster import wait_until
from tests.conftest import TenantFixture


async def start(tenant: TenantFixture, type: str, **params: Any) -> Job:
    chunk_size = params.pop("chunk_size", None)
    low_priority = params.pop("low_priority", False)
    return await start_job(
        tenant.actor(Role.ADMIN),
        StartJobRequest(type=type, params=params, chunk_size=chunk_size, low_priority=low_priority),
    )


async def reload(job: Job) -> Job:
    return await Job.get(id=job.id)


async def wait_for_status(job: Job, *statuses: JobStatus, timeout: float = 60) -> Job:
    async def reached() -> Job | None:
        current = await reload(job)
        return current if current.status in statuses else None

    return await wait_until(reached, timeout=timeout, what=f"job {job.id} to be {statuses}")


async def wait_for_records(job: Job, at_least: int, timeout: float = 60) -> int:
    async def enough() -> int:
        count = await Record.filter(job_id=job.id).count()
        return count if count >= at_least else 0

    return await wait_until(enough, timeout=timeout, what=f"{at_least} records of job {job.id}")


async def start_child(tenant: TenantFixture, parent: Job, type: str, **params: Any) -> Job:
    chunk_size = params.pop("chunk_size", None)
    return await start_job(
        tenant.actor(Role.ADMIN),
        StartJobRequest(type=type, params=params, chunk_size=chunk_size, parent_id=parent.id),
    )


async def discard_open_jobs() -> None:
    """Cancel whatever a test left open, so the workers of the next test do not inherit it."""
    await BulkOperation.filter(status__in=list(BULK_OPEN)).update(
        status=BulkOperationStatus.CANCELED, ended_at=utcnow()
    )
    platform = Actor(tenant_id=0, role=Role.PLATFORM, name="test cleanup")
    open_roots = await Job.filter(id=F("root_id")).exclude(status__in=TERMINAL).values_list("id", "status")
    for job_id, status in open_roots:
        try:
            if status is JobStatus.STOPPING:  # a non-stoppable type: only a force stop ends it now
                await force_stop_job(platform, job_id)
            await cancel_job(platform, job_id)
        except InvalidTransition:
            continue  # it moved on by itself meanwhile
        except JobNotStoppable:
            continue  # a running system job nobody may stop: written off below
    # What the verbs cannot end (non-stoppable system jobs, children of ended roots,
    # cancels still draining) is written off directly, like tests/domain/scenarios.put_in
    # does, and so are the hand-made chunks of domain tests: a RUNNING chunk with a lease
    # that never expires would hold a worker slot in the dispatcher's count for good.
    leftover = await Job.exclude(status__in=TERMINAL).values_list("id", flat=True)
    if leftover:
        now = utcnow()
        await Job.filter(id__in=leftover).update(
            status=JobStatus.CANCELED, ended_at=now, enumerated=True, enumeration_lease_expires_at=None
        )
        for job_id in leftover:  # their chunks and records as a cancel leaves them
            await chunks.cancel_open(job_id, now)
    await Chunk.filter(status__in=CHUNK_OPEN).update(
        status=ChunkStatus.CANCELED, lease_owner=None, lease_expires_at=None
    )


async def idle_pending_jobs(tenant: TenantFixture, count: int, name: str = "queued") -> list[int]:
    """``count`` PENDING jobs that no worker takes up (enumerated into no chunk), written straight
    into the table: thousands of admissions would take longer than what a test measures."""
    now = utcnow()
    partition = await shared_partition(now)
    await Job.bulk_create(
        [
            Job(
                tenant_id=tenant.tenant.id, type="test.plain", name=f"{name} {number}", chunk_size=10,
                enumerated=True, total=0, created_at=now, partition_id=partition,
            )
            for number in range(count)
        ],
        batch_size=1000,
    )
    return await Job.filter(tenant_id=tenant.tenant.id, name__startswith=f"{name} ").order_by("id").values_list(
        "id", flat=True
    )
