"""Reading jobs: one job, the filtered job list, the job types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import listing
from domain.errors import NotFound
from domain.registry import registry
from domain.statuses import JobStatus
from gql.context import Info
from gql.ids import from_global_id
from gql.jobs.types import JobNode, JobTypeInfo
from gql.node import Connection


@strawberry.input
class JobFilter:
    status: list[JobStatus] | None = None
    type: list[str] | None = None
    tenant_id: strawberry.ID | None = None
    run_by: strawberry.ID | None = None
    search: str | None = strawberry.field(
        default=None, description="Matches job name, type, tenant and who ran it."
    )
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_system: bool | None = strawberry.field(
        default=None,
        description="System jobs too. Only admins see them: below ADMIN it is refused (FORBIDDEN), never ignored.",
    )
    include_hidden: bool | None = None
    root_only: bool | None = None

    def to_domain(self) -> listing.JobListFilter:
        return listing.JobListFilter(
            status=self.status,
            type=self.type,
            tenant_id=None if self.tenant_id is None else from_global_id(self.tenant_id, "Tenant"),
            run_by=None if self.run_by is None else from_global_id(self.run_by, "Principal"),
            search=self.search,
            created_after=self.created_after,
            created_before=self.created_before,
            include_system=bool(self.include_system),
            include_hidden=bool(self.include_hidden),
            root_only=bool(self.root_only),
        )


@strawberry.input
class JobOrder:
    field: listing.JobOrderField = listing.JobOrderField.CREATED_AT
    direction: listing.Direction = listing.Direction.DESC


@strawberry.type
class JobQueries:
    @strawberry.field
    async def job(self, info: Info, id: strawberry.ID) -> JobNode | None:
        info.context.viewer  # noqa: B018 - authenticated before anything is read
        parsed = _job_id(id)
        job = await info.context.loaders.job.load(parsed) if parsed is not None else None
        return JobNode.of(job) if job else None

    @strawberry.field
    async def jobs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: JobFilter | None = None,
        order_by: JobOrder | None = None,
    ) -> Connection[JobNode]:
        order = order_by or JobOrder()
        page = await listing.list_jobs(
            info.context.viewer,
            (filter or JobFilter()).to_domain(),
            listing.JobOrder(field=order.field, direction=order.direction),
            first,
            after,
        )
        for job in page.page.items:
            info.context.loaders.job.prime(job.id, job)
        return Connection.of(
            [JobNode.of(job) for job in page.page.items], page.page.cursors, page.page.has_next, page.total_count
        )

    @strawberry.field
    def job_types(self, info: Info) -> list[JobTypeInfo]:
        actor = info.context.viewer
        return [JobTypeInfo.of(t) for t in registry.all() if actor.sees_system_jobs or not t.system]


def _job_id(id: str) -> int | None:
    try:
        return from_global_id(id, "Job")
    except NotFound:  # a malformed id reads as a missing job
        return None
