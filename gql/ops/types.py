"""Statistics over a time range and the live-ops summary."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.liveops import LiveOps
from domain.statistics import Bucket, StatsBucketSize
from domain.statuses import JobStatus
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
        return cls(**{name: getattr(bucket, name) for name in bucket.__dataclass_fields__})


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

    @classmethod
    def of(cls, summary: LiveOps) -> LiveOpsSummary:
        return cls(
            counts=[StatusCount(status=item.status, count=item.count) for item in summary.counts],
            stalled=summary.stalled,
            failed_last_24h=summary.failed_last_24h,
            avg_wait_seconds_last_hour=summary.avg_wait_seconds_last_hour,
            workers_online=summary.workers_online,
            queue_depth=summary.queue_depth,
        )
