"""Statistics over a time range and the live-ops summary."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.liveops import LISTED_JOBS, LiveOps
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
    counts: list[StatusCount]
    stalled: int
    failed_last_24h: int
    avg_wait_seconds_last_hour: float | None
    workers_online: int
    queue_depth: BigInt
    stalled_job_ids: strawberry.Private[tuple[int, ...]]
    failed_job_ids_last_24h: strawberry.Private[tuple[int, ...]]

    @strawberry.field(description=f"Up to {LISTED_JOBS} of the stalled jobs, the longest without progress first.")
    async def stalled_jobs(self, info: Info) -> list[JobNode]:
        return await _jobs(info, self.stalled_job_ids)

    @strawberry.field(
        name="failedJobsLast24h", description=f"Up to {LISTED_JOBS} of the jobs failed in the last 24 hours, latest first."
    )
    async def failed_jobs_last_24h(self, info: Info) -> list[JobNode]:
        return await _jobs(info, self.failed_job_ids_last_24h)

    @classmethod
    def of(cls, summary: LiveOps) -> LiveOpsSummary:
        return cls(
            counts=[StatusCount(status=item.status, count=item.count) for item in summary.counts],
            stalled=summary.stalled,
            failed_last_24h=summary.failed_last_24h,
            avg_wait_seconds_last_hour=summary.avg_wait_seconds_last_hour,
            workers_online=summary.workers_online,
            queue_depth=summary.queue_depth,
            stalled_job_ids=summary.stalled_job_ids,
            failed_job_ids_last_24h=summary.failed_job_ids_last_24h,
        )


async def _jobs(info: Info, ids: tuple[int, ...]) -> list[JobNode]:
    jobs = await info.context.loaders.job.load_many(ids)
    return [JobNode.of(job) for job in jobs if job is not None]
