"""Tenants, their principals and API tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from domain import db
from domain.access import Actor, ActorKind, PrincipalKind, Role, hash_token, new_token
from domain.errors import InvalidInput, NotFound, Unauthenticated
from domain.models import ApiToken, Principal, Tenant

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


async def create_tenant(
    slug: str,
    name: str | None = None,
    *,
    jobs_per_month: int | None = None,
    records_per_month: int | None = None,
) -> Tenant:
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput("slug", "use 1-63 lowercase letters, digits and inner hyphens")
    for field, limit in (("jobsPerMonth", jobs_per_month), ("recordsPerMonth", records_per_month)):
        if limit is not None and limit < 0:
            raise InvalidInput(field, "must not be negative")
    try:
        return await Tenant.create(
            slug=slug,
            name=name or slug,
            jobs_per_month=jobs_per_month,
            records_per_month=records_per_month,
        )
    except IntegrityError:
        raise InvalidInput("slug", f"a tenant named {slug!r} already exists") from None


async def get_tenant(slug: str) -> Tenant:
    tenant = await Tenant.get_or_none(slug=slug)
    if tenant is None:
        raise NotFound("tenant", slug)
    return tenant


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its hash is stored
    principal: Principal


async def create_token(
    tenant_slug: str,
    role: Role,
    name: str | None = None,
    kind: PrincipalKind = PrincipalKind.BOT,
) -> IssuedToken:
    tenant = await get_tenant(tenant_slug)
    token = new_token()
    async with db.transaction():
        principal = await Principal.create(
            tenant_id=tenant.id, name=name or f"{role.value.lower()} token", kind=kind, role=role
        )
        await ApiToken.create(
            principal_id=principal.id, token_hash=hash_token(token), display_prefix=token[:12]
        )
    return IssuedToken(token=token, principal=principal)


async def authenticate(token: str | None) -> Actor:
    if not token:
        raise Unauthenticated()
    row = await ApiToken.get_or_none(
        token_hash=hash_token(token), revoked_at=None
    ).prefetch_related("principal")
    if row is None:
        raise Unauthenticated()
    return actor_of(row.principal)


def actor_of(principal: Principal) -> Actor:
    """The actor a principal's requests act as."""
    return Actor(
        tenant_id=principal.tenant_id,
        role=principal.role,
        name=principal.name,
        principal_id=principal.id,
        kind=ActorKind.of_principal(principal.kind),
    )
