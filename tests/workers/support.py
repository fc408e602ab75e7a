"""Small helpers the worker tests share: start a job, read it back, wait for a status."""

from __future__ import annotations

from typing import Any

from domain.access import Role
from domain.jobs import StartJobRequest, start_job
from domain.models import Job, Record
from domain.statuses import JobStatus
from tests.cluster import wait_until
from tests.conftest import TenantFixture


async def start(tenant: TenantFixture, type: str, **params: Any) -> Job:
    chunk_size = params.pop("chunk_size", None)
    return await start_job(
        tenant.actor(Role.ADMIN), StartJobRequest(type=type, params=params, chunk_size=chunk_size)
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
