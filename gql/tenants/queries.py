"""Who is asking, and what the tenant used of its plan."""

from __future__ import annotations

import strawberry

from domain.tenants import visible_tenants
from domain.usage import plan_usage
from gql.context import Info
from gql.tenants.types import PlanUsage, PrincipalNode, TenantNode, Viewer


@strawberry.type
class TenantQueries:
    @strawberry.field
    async def viewer(self, info: Info) -> Viewer:
        actor = info.context.viewer
        tenant = await info.context.loaders.tenant.load(actor.tenant_id)
        principal = None if actor.principal_id is None else await info.context.loaders.principal.load(actor.principal_id)
        return Viewer(
            tenant=TenantNode.of(tenant),
            role=actor.role,
            name=actor.name,
            principal=PrincipalNode.of(principal) if principal else None,
        )

    @strawberry.field(description="The tenants the viewer sees, by slug: all of them for the platform, else its own.")
    async def tenants(self, info: Info) -> list[TenantNode]:
        return [TenantNode.of(tenant) for tenant in await visible_tenants(info.context.viewer)]

    @strawberry.field
    async def usage(self, info: Info) -> PlanUsage:
        return PlanUsage.of(await plan_usage(info.context.viewer))
