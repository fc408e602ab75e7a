"""Tenants, principals, API tokens, the viewer and plan usage."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import models
from domain.access import PrincipalKind, Role
from domain.usage import UsageReport
from gql.ids import to_global_id
from gql.node import Node
from gql.scalars import BigInt


@strawberry.type(name="Tenant")
class TenantNode(Node):
    slug: str
    name: str

    @classmethod
    def of(cls, tenant: models.Tenant) -> TenantNode:
        return cls(id=to_global_id("Tenant", tenant.id), slug=tenant.slug, name=tenant.name)


@strawberry.type(name="Principal", description="A user or bot that starts and steers jobs.")
class PrincipalNode(Node):
    name: str
    kind: PrincipalKind
    role: Role

    @classmethod
    def of(cls, principal: models.Principal) -> PrincipalNode:
        return cls(
            id=to_global_id("Principal", principal.id),
            name=principal.name,
            kind=principal.kind,
            role=principal.role,
        )


@strawberry.type
class Viewer:
    tenant: TenantNode
    role: Role
    name: str
    principal: PrincipalNode | None = strawberry.field(
        description="The principal the token belongs to: `JobFilter.runBy` with its id lists the viewer's own runs."
    )


@strawberry.type(
    description="This month's usage of the plan. Starting a job counts it and reserves the records it"
    " will run; recordsUsed + recordsReserved may not pass recordsLimit."
)
class PlanUsage:
    month: str
    jobs_used: BigInt
    jobs_limit: BigInt | None
    records_used: BigInt = strawberry.field(description="Records processed by this month's jobs that ended.")
    records_reserved: BigInt = strawberry.field(
        description="Records held by this month's jobs that have not ended; what a job did not use is given back when it ends."
    )
    records_limit: BigInt | None

    @classmethod
    def of(cls, usage: UsageReport) -> PlanUsage:
        return cls(
            month=usage.month,
            jobs_used=usage.jobs_used,
            jobs_limit=usage.jobs_limit,
            records_used=usage.records_used,
            records_reserved=usage.records_reserved,
            records_limit=usage.records_limit,
        )


@strawberry.type(
    name="ApiToken",
    description="A token of the tenant, as its list shows it: never the secret, which only createApiToken returns.",
)
class ApiTokenNode:
    id: strawberry.ID
    name: str
    role: Role
    prefix: str = strawberry.field(description="The token's first characters, to tell it apart; safe to show.")
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(
        description="When it last authenticated a request, within a minute: it is written at most once a minute."
    )
    revoked_at: datetime | None = strawberry.field(description="From then on every request with it is refused.")

    @classmethod
    def of(cls, token: models.ApiToken) -> ApiTokenNode:
        return cls(
            id=to_global_id("ApiToken", token.id),
            name=token.principal.name,
            role=token.principal.role,
            prefix=token.display_prefix,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )
