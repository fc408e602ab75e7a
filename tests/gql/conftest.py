"""The API served for real: the Starlette app of ``jobtower.app`` on the test databases and a
real Redis, reached over HTTP with API tokens."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from jobtower.app import create_app
from jobtower.settings import Settings
from tests.cli import clean_environment
from tests.cluster import api_process
from tests.conftest import MakeTenant
from tests.gql.support import TenantApi
from workers.redis_server import EmbeddedRedis

BASE_URL = "http://jobtower.test"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("JOBTOWER_TEST_REDIS_URL"):
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("gql-redis")) as server:
        yield server.url


FAST, PLAIN = "fast", "plain"
# A module marked so runs its tests twice, with the API's fast execution and with Strawberry's own.
BOTH_EXECUTIONS = pytest.mark.parametrize("graphql_execution", [FAST, PLAIN], scope="module")


@pytest.fixture(scope="session")
def graphql_execution() -> str:
    """How the API under test executes GraphQL: as JOBTOWER_GRAPHQL_FAST_EXECUTION says (fast
    by default), or both ways in a module marked BOTH_EXECUTIONS."""
    return FAST if Settings().graphql_fast_execution else PLAIN


@pytest.fixture(scope="session")
def app(redis_url: str, graphql_execution: str) -> Starlette:
    # The test session owns the database connection (the `database` fixture), so the
    # app's lifespan, which would open its own, is not run in-process.
    return create_app(Settings(redis_url=redis_url, graphql_fast_execution=graphql_execution == FAST), redis_url)


@pytest.fixture(scope="session")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def tenant_api(make_tenant: MakeTenant, http: httpx.AsyncClient):
    """Makes a fresh tenant with a client per role: ``await tenant_api(**limits)``."""

    async def make(**limits: int | None) -> TenantApi:
        return TenantApi(http, (await make_tenant(**limits)).tenant)

    return make


@pytest.fixture
async def acme_api(tenant_api) -> TenantApi:
    return await tenant_api()


# ---------------------------------------------------------------- a real server


@dataclass(frozen=True)
class ServedApi:
    """``jobtower api`` in its own process, on a free port; ``log`` is what it wrote."""

    url: str
    port: int
    log: Path
    allowed_origin: str

    def server_log(self) -> str:
        return self.log.read_text(errors="replace")


ALLOWED_ORIGIN = "https://console.example.com"
# How long the served API waits for a request to arrive whole (its head and body).
READ_SECONDS = 3


@contextmanager
def serving_api(
    database_url: str, redis_url: str, graphql_execution: str, log: Path, **settings: object
) -> Iterator[ServedApi]:
    """``jobtower api`` on the test databases, with ``settings`` (``ws_max_connections=3``) besides."""
    env = clean_environment() | {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JOBTOWER_JOB_TYPES": json.dumps(["tests.job_types"]),
        "JOBTOWER_ALLOWED_ORIGINS": json.dumps([ALLOWED_ORIGIN]),
        "JOBTOWER_GRAPHQL_FAST_EXECUTION": "1" if graphql_execution == FAST else "0",
        "JOBTOWER_REQUEST_READ_SECONDS": str(READ_SECONDS),
        "PYTHONUNBUFFERED": "1",
        **{f"JOBTOWER_{name.upper()}": str(value) for name, value in settings.items()},
    }
    with api_process(env, log) as port:
        yield ServedApi(url=f"http://127.0.0.1:{port}", port=port, log=log, allowed_origin=ALLOWED_ORIGIN)


@pytest.fixture(scope="module")
def served_api(
    database: str,
    request: pytest.FixtureRequest,
    redis_url: str,
    graphql_execution: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServedApi]:
    log = tmp_path_factory.mktemp("api") / "api.log"
    with serving_api(request.getfixturevalue(f"{database}_url"), redis_url, graphql_execution, log) as served:
        yield served


@pytest.fixture
async def served_http(served_api: ServedApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served_api.url, timeout=30) as client:
        yield client


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the API's Redis, for what workers would have put there."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
