"""Statistics over a time range and the live-ops summary."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.liveops import LISTED_JOBS, LiveOpsFigures
from domain.statistics import Bucket, StatsBucketSize
from domain.statuses import JobStatus
from gql.context import Info
from gql.jobs.types import JobNode
from gql.scalars import BigInt

strawberry.enum(StatsBucketSize)


@strawberry.type
class StatsBucket:
    start: datetime
    created: BigInt
    started: BigInt
    finished: BigInt
    failed: BigInt
    wait_avg: float | None
    wait_min: float | None
    wait_max: float | None
    wait_p95: float | None
    duration_avg: float | None
    duration_p95: float | None
    records_processed: BigInt

    @classmethod
    def of(cls, bucket: Bucket) -> StatsBucket:
        return cls(**vars(bucket))


@strawberry.type
class JobStatistics:
    buckets: list[StatsBucket]


@strawberry.type
class StatusCount:
    status: JobStatus
    count: BigInt


@strawberry.type
class LiveOpsSummary:
    """Each figure is read when asked for (``domain.liveops.LiveOpsFigures``)."""

    figures: strawberry.Private[LiveOpsFigures]

    @strawberry.field
    async def counts(self) -> list[StatusCount]:
        return [StatusCount(status=item.status, count=item.count) for item in await self.figures.counts()]

    @strawberry.field
    async def stalled(self) -> int:
        return await self.figures.stalled()

    @strawberry.field
    async def failed_last_24h(self) -> int:
        return await self.figures.failed_last_24h()

    @strawberry.field
    async def avg_wait_seconds_last_hour(self) -> float | None:
        return await self.figures.avg_wait_seconds_last_hour()

    @strawberry.field
    def workers_online(self) -> int:
        return self.figures.workers_online

    @strawberry.field
    async def queue_depth(self) -> BigInt:
        return await self.figures.queue_depth()

    @strawberry.field(description=f"Up to {LISTED_JOBS} of the stalled jobs, the longest without progress first.")
    async def stalled_jobs(self, info: Info) -> list[JobNode]:
        return await _jobs(info, await self.figures.stalled_job_ids())

    @strawberry.field(
        name="failedJobsLast24h", description=f"Up to {LISTED_JOBS} of the jobs failed in the last 24 hours, latest first."
    )
    async def failed_jobs_last_24h(self, info: Info) -> list[JobNode]:
        return await _jobs(info, await self.figures.failed_job_ids_last_24h())


async def _jobs(info: Info, ids: tuple[int, ...]) -> list[JobNode]:
    jobs = await info.context.loaders.job.load_many(ids)
    return [JobNode.of(job) for job in jobs if job is not None]
