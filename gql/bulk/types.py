"""Bulk operations as the API shows them: the operation, its progress and the jobs refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from domain import bulk, models
from domain.errors import InvalidInput
from domain.listing import decode_key, key_cursor, page_size
from domain.statuses import BulkAction, BulkOperationStatus
from gql.context import Info
from gql.errors import Error
from gql.ids import parse_global_id, to_global_id
from gql.jobs.queries import JobFilter
from gql.jobs.types import JobNode
from gql.loaders import load_page
from gql.node import Connection, Node
from gql.scalars import BigInt
from gql.tenants.types import PrincipalNode, TenantNode

strawberry.enum(
    BulkAction,
    description="What a bulk operation does to each of its jobs: the job mutation of the same name"
    " (SET_LOW_PRIORITY and REMOVE_LOW_PRIORITY are setJobLowPriority with true and false).",
)
strawberry.enum(BulkOperationStatus)


@strawberry.input(description="What to do, and to which jobs: exactly one of ids and filter.")
class StartBulkOperationInput:
    action: BulkAction
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=f"At most {bulk.MAX_IDS} job ids. Every id is one of the operation's jobs: an id of"
        " another tenant's job, or of none, ends among its errors as NOT_FOUND, as the single mutation"
        " answers it; a hidden job is acted on, as the single mutation does.",
    )
    filter: JobFilter | None = strawberry.field(
        default=None,
        description="The jobs jobs(filter:) lists for the viewer at this moment, hidden and system jobs as it"
        f" shows them (at most {bulk.MAX_FILTERED:,}; jobs created later are never touched).",
    )

    def chosen(self) -> dict[str, Any]:
        """The domain's ``ids`` and ``where``."""
        return {
            "ids": _job_ids(self.ids),
            "where": None if self.filter is None else self.filter.to_domain(),
        }


def _job_ids(ids: list[strawberry.ID] | None) -> list[int] | None:
    if ids is None:
        return None
    parsed = []
    for value in ids:
        found = parse_global_id(value)
        if found is None or found[0] != "Job":
            raise InvalidInput("ids", f"{value[:40]!r} is not a job id")
        parsed.append(found[1])
    return parsed


@strawberry.type(description="What startBulkOperation with the same input would do now.")
class BulkPreview:
    total: BigInt = strawberry.field(description="The jobs it would choose, as its total would say.")
    eligible: BigInt = strawberry.field(
        description="Those of them the action's mutation would change now, by the job's status, type and"
        " flags; the others would end among its errors. Jobs move meanwhile: the run decides, job by job."
    )


@strawberry.type(
    description="A job of a bulk operation that the action's mutation refused for it, with that"
    " refusal's code and message (NOT_FOUND, FORBIDDEN, INVALID_TRANSITION, NOT_STOPPABLE,"
    " NOT_RESTARTABLE, PLAN_LIMIT, ...; INTERNAL_ERROR if it failed unexpectedly). The job was left as it was."
)
class BulkJobError(Error):
    job_id: strawberry.ID = strawberry.field(description="The job's id, as given or as the filter matched it.")
    job_pk: strawberry.Private[int]

    @strawberry.field(description="The job, if it exists and the viewer may see it.")
    async def job(self, info: Info) -> JobNode | None:
        job = await info.context.loaders.job.load(self.job_pk)
        return JobNode.of(job) if job else None

    @classmethod
    def of(cls, target: models.BulkTarget) -> BulkJobError:
        return cls(
            code=target.error_code or "",
            message=target.error_message or "",
            job_id=to_global_id("Job", target.job_id),
            job_pk=target.job_id,
        )


@strawberry.type(
    name="BulkOperation",
    description="One action applied to many jobs in the background, each job through the action's own"
    " mutation, acting as the principal who started it (its role, the job's transitions and tenant"
    " isolation decide, job by job). Its jobs were chosen when it started: jobs created later are never"
    " touched. Canceling it leaves the jobs not reached yet as they are.",
)
class BulkOperationNode(Node):
    model: strawberry.Private[models.BulkOperation]

    @classmethod
    def of(cls, operation: models.BulkOperation) -> BulkOperationNode:
        return cls(id=to_global_id("BulkOperation", operation.id), model=operation)

    @strawberry.field
    def action(self) -> BulkAction:
        return self.model.action

    @strawberry.field
    def status(self) -> BulkOperationStatus:
        return self.model.status

    @strawberry.field(description="The jobs it acts on, chosen when it started.")
    def total(self) -> BigInt:
        return BigInt(self.model.total)

    @strawberry.field(description="Jobs that had their turn: succeeded + failed. Never decreases.")
    def done(self) -> BigInt:
        return BigInt(self.model.done)

    @strawberry.field(description="Jobs the action changed.")
    def succeeded(self) -> BigInt:
        return BigInt(self.model.succeeded)

    @strawberry.field(description="Jobs the action's mutation refused: see errors.")
    def failed(self) -> BigInt:
        return BigInt(self.model.failed)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.model.created_at

    @strawberry.field(description="When a worker first took it up.")
    def started_at(self) -> datetime | None:
        return self.model.started_at

    @strawberry.field(description="When it completed or was canceled.")
    def ended_at(self) -> datetime | None:
        return self.model.ended_at

    @strawberry.field(
        description="The tenant of who started it: its operations list there (a PLATFORM principal's may act on every tenant's jobs)."
    )
    async def tenant(self, info: Info) -> TenantNode:
        return TenantNode.of(await info.context.loaders.tenant.load(self.model.tenant_id))

    @strawberry.field(description="Who started it; every job's change is theirs.")
    async def created_by(self, info: Info) -> PrincipalNode:
        return PrincipalNode.of(await info.context.loaders.principal.load(self.model.created_by_id))

    @strawberry.field(description="The jobs the action's mutation refused, in job order.")
    async def errors(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[BulkJobError]:
        loaders = info.context.loaders
        targets, more = await load_page(
            loaders.bulk_error_pages, self.model.id, page_size(first), decode_key(after, "Job")
        )
        return Connection.of(
            [BulkJobError.of(target) for target in targets],
            [key_cursor("Job", target.job_id) for target in targets],
            more,
            lambda: loaders.bulk_error_count.load(self.model.id),
        )
