"""Tenants, principals, the viewer and plan usage."""

from __future__ import annotations

import strawberry

from domain import models
from domain.access import PrincipalKind, Role
from domain.tenants import UsageReport
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


@strawberry.type
class PlanUsage:
    month: str
    jobs_used: BigInt
    jobs_limit: BigInt | None
    records_used: BigInt
    records_limit: BigInt | None

    @classmethod
    def of(cls, usage: UsageReport) -> PlanUsage:
        return cls(
            month=usage.month,
            jobs_used=usage.jobs_used,
            jobs_limit=usage.jobs_limit,
            records_used=usage.records_used,
            records_limit=usage.records_limit,
        )
