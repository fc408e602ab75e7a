"""Managing a tenant: its API tokens, monthly limits and Sync Sizes (ADMIN; PLATFORM for any tenant)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from domain import tenants
from domain.access import Role
from domain.errors import JobtowerError
from domain.usage import tenant_usage
from gql.context import Info
from gql.errors import ForbiddenError, InvalidInputError, NotFoundError, UnknownJobTypeError, to_error
from gql.ids import from_global_id
from gql.scalars import BigInt
from gql.tenants.types import ApiTokenNode, PlanUsage, TenantNode

TENANT_ID = "PLATFORM only: act on this tenant instead of the viewer's own."


@strawberry.input
class CreateApiTokenInput:
    name: str = strawberry.field(description="Who or what will use it, 1-200 characters.")
    role: Role = strawberry.field(description="At most the creator's own role.")
    tenant_id: strawberry.ID | None = strawberry.field(default=None, description=TENANT_ID)


@strawberry.type
class ApiTokenCreated:
    token: str = strawberry.field(
        description="The secret, sent as `Authorization: Bearer <token>`. Shown this once: only its hash is stored."
    )
    api_token: ApiTokenNode


@strawberry.type
class ApiTokenRevoked:
    api_token: ApiTokenNode


@strawberry.input
class SetTenantLimitsInput:
    tenant_id: strawberry.ID | None = strawberry.field(default=None, description=TENANT_ID)
    monthly_jobs: BigInt | None = strawberry.field(
        default=strawberry.UNSET,
        description="Jobs started per calendar month (UTC). null removes the limit; left out, it stays.",
    )
    monthly_records: BigInt | None = strawberry.field(
        default=strawberry.UNSET,
        description="Records processed per calendar month (UTC). null removes the limit; left out, it stays.",
    )


@strawberry.type
class TenantLimitsSet:
    tenant: TenantNode
    usage: PlanUsage = strawberry.field(description="This month's usage against the new limits.")


@strawberry.type
class SyncSizeSet:
    tenant: TenantNode
    job_type: str
    chunk_size: int = strawberry.field(
        description="What the tenant's jobs of the type now start with when startJob names no chunk size."
    )


CreateApiTokenResult = Annotated[
    ApiTokenCreated | ForbiddenError | NotFoundError | InvalidInputError, strawberry.union("CreateApiTokenResult")
]
RevokeApiTokenResult = Annotated[
    ApiTokenRevoked | ForbiddenError | NotFoundError, strawberry.union("RevokeApiTokenResult")
]
SetTenantLimitsResult = Annotated[
    TenantLimitsSet | ForbiddenError | NotFoundError | InvalidInputError, strawberry.union("SetTenantLimitsResult")
]
SetSyncSizeResult = Annotated[
    SyncSizeSet | ForbiddenError | NotFoundError | UnknownJobTypeError | InvalidInputError,
    strawberry.union("SetSyncSizeResult"),
]


def _tenant_id(id: strawberry.ID | None) -> int | None:
    return None if id is None else from_global_id(id, "Tenant")


def _keep_if_unset(value: Any) -> Any:
    return tenants.KEEP if value is strawberry.UNSET else value


async def _answered(call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await call()
    except JobtowerError as error:
        return to_error(error)


@strawberry.type
class TenantMutations:
    @strawberry.mutation(description="A new API token of the tenant (ADMIN). Its secret is in the answer, only there.")
    async def create_api_token(self, info: Info, input: CreateApiTokenInput) -> CreateApiTokenResult:
        async def create() -> ApiTokenCreated:
            issued = await tenants.create_api_token(
                info.context.viewer, input.name, input.role, _tenant_id(input.tenant_id)
            )
            return ApiTokenCreated(token=issued.token, api_token=ApiTokenNode.of(issued.api_token))

        return await _answered(create)

    @strawberry.mutation(
        description="Refuse the token from its next request on (ADMIN; not a token above the viewer's role)."
        " A WebSocket opened with it before stays open until it closes; no new one opens. Revoking again changes nothing."
    )
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> RevokeApiTokenResult:
        async def revoke() -> ApiTokenRevoked:
            token = await tenants.revoke_api_token(info.context.viewer, from_global_id(id, "ApiToken"))
            return ApiTokenRevoked(api_token=ApiTokenNode.of(token))

        return await _answered(revoke)

    @strawberry.mutation(
        description="Set the tenant's monthly limits (ADMIN for its own tenant, PLATFORM for any). A limit below"
        " this month's usage refuses the next startJob with PLAN_LIMIT; running jobs go on."
    )
    async def set_tenant_limits(self, info: Info, input: SetTenantLimitsInput) -> SetTenantLimitsResult:
        async def set_limits() -> TenantLimitsSet:
            tenant = await tenants.set_tenant_limits(
                info.context.viewer,
                _tenant_id(input.tenant_id),
                jobs_per_month=_keep_if_unset(input.monthly_jobs),
                records_per_month=_keep_if_unset(input.monthly_records),
            )
            return TenantLimitsSet(tenant=TenantNode.of(tenant), usage=PlanUsage.of(await tenant_usage(tenant)))

        return await _answered(set_limits)

    @strawberry.mutation(
        description="Choose the tenant's Sync Size for a job type (ADMIN): the chunk size its jobs start with when"
        " startJob names none, one of the type's allowedChunkSizes. null goes back to defaultChunkSize."
    )
    async def set_sync_size(
        self,
        info: Info,
        job_type: str,
        chunk_size: int | None,
        tenant_id: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT_ID)] = None,
    ) -> SetSyncSizeResult:
        async def set_size() -> SyncSizeSet:
            setting = await tenants.set_sync_size(info.context.viewer, job_type, chunk_size, _tenant_id(tenant_id))
            return SyncSizeSet(
                tenant=TenantNode.of(setting.tenant),
                job_type=setting.job_type,
                chunk_size=setting.chunk_size,
            )

        return await _answered(set_size)
