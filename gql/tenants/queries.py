"""Who is asking, what the tenant used of its plan, and the tenant's API tokens."""

from __future__ import annotations

import strawberry

from domain.tenants import list_api_tokens, visible_tenants
from domain.usage import plan_usage
from gql.context import Info
from gql.ids import from_global_id
from gql.node import Connection
from gql.tenants.types import ApiTokenNode, PlanUsage, PrincipalNode, TenantNode, Viewer


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

    @strawberry.field(
        description="The tenant's API tokens, newest first, revoked ones too. ADMIN only; tenantId (PLATFORM) names"
        " another tenant."
    )
    async def api_tokens(
        self, info: Info, first: int | None = None, after: str | None = None, tenant_id: strawberry.ID | None = None
    ) -> Connection[ApiTokenNode]:
        tokens = await list_api_tokens(
            info.context.viewer, first, after, None if tenant_id is None else from_global_id(tenant_id, "Tenant")
        )
        page = tokens.page
        return Connection.of([ApiTokenNode.of(token) for token in page.items], page.cursors, page.has_next, tokens.total_count)
