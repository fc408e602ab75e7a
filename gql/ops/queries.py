"""``jobStatistics``: one domain call; ``liveOps``: the figures asked for, each read when resolved."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from domain.liveops import LiveOpsFigures
from domain.statistics import StatsBucketSize, job_statistics
from gql.context import Info
from gql.ids import from_global_id
from gql.ops.types import JobStatistics, LiveOpsSummary, StatsBucket


@strawberry.type
class OpsQueries:
    @strawberry.field(description="Jobs bucketed by hour or day over [from, to), UTC.")
    async def job_statistics(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        bucket: StatsBucketSize,
        tenant_id: strawberry.ID | None = None,
        type: str | None = None,
    ) -> JobStatistics:
        buckets = await job_statistics(
            info.context.viewer,
            from_,
            to,
            bucket,
            tenant_id=None if tenant_id is None else from_global_id(tenant_id, "Tenant"),
            type=type,
        )
        return JobStatistics(buckets=[StatsBucket.of(bucket) for bucket in buckets])

    @strawberry.field
    async def live_ops(self, info: Info) -> LiveOpsSummary:
        figures = LiveOpsFigures(info.context.viewer, await info.context.workers_online(), info.context.now)
        return LiveOpsSummary(figures=figures)
