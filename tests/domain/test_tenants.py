"""Tenants, API tokens and plan usage."""

from __future__ import annotations

import uuid

import pytest

from domain.access import Role, hash_token
from domain.clock import month_of, utcnow
from domain.errors import InvalidInput, NotFound, Unauthenticated
from domain.models import ApiToken, Principal
from domain.tenants import authenticate, create_tenant, create_token
from domain.usage import plan_usage
from tests.domain.scenarios import start


def new_slug() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


async def test_a_token_authenticates_as_its_principal_and_is_stored_only_hashed(acme):
    issued = await create_token(acme.tenant.slug, Role.OPERATOR, name="sync bot")

    actor = await authenticate(issued.token)

    assert (actor.tenant_id, actor.role, actor.name, actor.principal_id) == (
        acme.tenant.id, Role.OPERATOR, "sync bot", issued.principal.id
    )
    stored = await ApiToken.get(principal_id=issued.principal.id)
    assert stored.token_hash == hash_token(issued.token)
    assert issued.token not in (stored.token_hash, stored.display_prefix)
    assert issued.token.startswith(stored.display_prefix)


@pytest.mark.parametrize("token", [None, "", "jt_not-a-token"])
async def test_a_missing_or_unknown_token_is_unauthenticated(database, token):
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(token)

    assert refused.value.code == "UNAUTHENTICATED"


async def test_a_revoked_token_no_longer_authenticates(acme):
    issued = await create_token(acme.tenant.slug, Role.ADMIN)
    await ApiToken.filter(principal_id=issued.principal.id).update(revoked_at=utcnow())

    with pytest.raises(Unauthenticated):
        await authenticate(issued.token)


async def test_every_token_is_new(acme):
    first = await create_token(acme.tenant.slug, Role.VIEWER)
    second = await create_token(acme.tenant.slug, Role.VIEWER)

    assert first.token != second.token
    assert (await authenticate(second.token)).principal_id == second.principal.id


async def test_a_token_for_an_unknown_tenant_is_refused_and_creates_nobody(database):
    principals = await Principal.all().count()

    with pytest.raises(NotFound):
        await create_token(new_slug(), Role.ADMIN)

    assert await Principal.all().count() == principals


@pytest.mark.parametrize("slug", ["", "Acme", "-acme", "acme-", "ac me", "a" * 64, "acme_1"])
async def test_a_bad_slug_is_refused(database, slug):
    with pytest.raises(InvalidInput) as refused:
        await create_tenant(slug)

    assert refused.value.field == "slug"


async def test_a_slug_names_one_tenant(database):
    slug = new_slug()
    await create_tenant(slug)

    with pytest.raises(InvalidInput) as refused:
        await create_tenant(slug)

    assert refused.value.field == "slug"
    assert "already exists" in refused.value.message


@pytest.mark.parametrize(
    ("limits", "field"),
    [({"jobs_per_month": -1}, "jobsPerMonth"), ({"records_per_month": -1}, "recordsPerMonth")],
)
async def test_a_negative_limit_is_refused(database, limits, field):
    with pytest.raises(InvalidInput) as refused:
        await create_tenant(new_slug(), **limits)

    assert refused.value.field == field


async def test_usage_reports_this_month_against_the_limits(make_tenant):
    tenant = await make_tenant(jobs_per_month=10, records_per_month=1000)
    operator = tenant.actor()

    before = await plan_usage(operator)
    await start(operator)
    after = await plan_usage(operator)

    assert before.month == month_of(utcnow())
    assert (before.jobs_used, before.records_used) == (0, 0)
    assert (after.jobs_used, after.jobs_limit, after.records_limit) == (1, 10, 1000)
