"""The services subscription tests run against, for real: ``jobtower api`` served by uvicorn in its
own process, a real Redis, worker and dispatcher processes, and the relay run in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from domain.access import Role
from domain.models import JobEvent
from domain.tenants import create_token
from tests.cluster import FAST_SETTINGS, Cluster, api_process
from tests.conftest import TenantFixture
from tests.gql import live_job_types  # noqa: F401  (registers test.chatty in the test process too)
from tests.gql.ws import ws_url
from tests.workers.support import discard_open_jobs
from workers.redis_server import EmbeddedRedis
from workers.relay import relay_events

JOB_TYPE_MODULES = ("jobtower.demo", "tests.job_types", "tests.gql.live_job_types")


@pytest.fixture(scope="session")
def live_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of the subscription tests' own: they flush it, and count its readers."""
    with EmbeddedRedis(tmp_path_factory.mktemp("subscriptions-redis")) as server:
        yield server.url


@pytest.fixture
async def redis(live_redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(live_redis_url)
    await client.flushall()
    yield client
    await client.aclose()


def service_env(database_url: str, redis_url: str, **settings: object) -> dict[str, str]:
    return Cluster(
        database_url=database_url,
        redis_url=redis_url,
        log_dir=Path("."),
        settings=settings,
        job_type_modules=JOB_TYPE_MODULES,
    ).env()


@dataclass(frozen=True)
class Api:
    http_url: str
    log: Path

    @property
    def ws(self) -> str:
        return ws_url(self.http_url)


@pytest.fixture(scope="module")
def api(
    database: str, request: pytest.FixtureRequest, live_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """``jobtower api`` served by uvicorn on a free port, on the test database and Redis."""
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = service_env(request.getfixturevalue(f"{database}_url"), live_redis_url)
    with api_process(env, log) as port:
        yield Api(f"http://127.0.0.1:{port}", log)


@pytest.fixture
async def cluster(
    database: str, request: pytest.FixtureRequest, redis: Redis, live_redis_url: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    """Real worker and dispatcher processes, started by the test that needs them."""
    await discard_open_jobs()  # jobs other tests left open would compete for the workers
    running = Cluster(
        database_url=request.getfixturevalue(f"{database}_url"),
        redis_url=live_redis_url,
        log_dir=tmp_path / "logs",
        settings=dict(FAST_SETTINGS),
        job_type_modules=JOB_TYPE_MODULES,
    )
    yield running
    running.stop_all()
    await discard_open_jobs()


async def token(tenant: TenantFixture, role: Role) -> str:
    return (await create_token(tenant.tenant.slug, role)).token


async def relay_all(redis: Redis) -> None:
    """What the leading dispatcher does: copy every recorded event to the tenant streams."""
    while await relay_events(redis):
        pass


async def relay_nothing_so_far() -> None:
    """Whatever is recorded so far never reaches the streams, as if Redis lost it."""
    await JobEvent.filter(awaiting_relay=True).update(awaiting_relay=None)
