from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain import db
from domain.access import Actor, Role
from domain.models import Tenant
from domain.tenants import create_tenant
from tests import job_types  # noqa: F401  (registers the test job types)
from tests.services import PostgresServer, running_postgres

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    """The session's PostgreSQL server, which fault tests restart; None when
    ``JOBTOWER_TEST_POSTGRES_URL`` names a server of your own."""
    if os.environ.get("JOBTOWER_TEST_POSTGRES_URL"):
        yield None
        return
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer | None) -> str:
    return postgres.url if postgres else os.environ["JOBTOWER_TEST_POSTGRES_URL"]


@pytest.fixture(scope="session")
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="jobtower-sqlite-") as folder:
        # A throwaway file: like the test PostgreSQL (fsync=off), it need not survive a power cut.
        yield f"sqlite://{Path(folder) / 'jobtower.db'}?synchronous=OFF"


@pytest.fixture(scope="session", params=BACKENDS)
async def database(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The migrated database, once on SQLite and once on PostgreSQL; yields the backend name."""
    url = request.getfixturevalue(f"{request.param}_url")
    async with db.database(url, apply_migrations=True):
        yield request.param


@dataclass(frozen=True)
class TenantFixture:
    tenant: Tenant

    def actor(self, role: Role = Role.OPERATOR, name: str | None = None) -> Actor:
        return Actor(tenant_id=self.tenant.id, role=role, name=name or f"{role.value.lower()} user")


MakeTenant = Callable[..., Awaitable[TenantFixture]]


@pytest.fixture
def make_tenant(database: str) -> MakeTenant:
    """A fresh tenant per call, so tests never see each other's rows."""

    async def make(**limits: int | None) -> TenantFixture:
        tenant = await create_tenant(f"t-{uuid.uuid4().hex[:12]}", **limits)
        return TenantFixture(tenant)

    return make


@pytest.fixture
async def acme(make_tenant: MakeTenant) -> TenantFixture:
    return await make_tenant()
