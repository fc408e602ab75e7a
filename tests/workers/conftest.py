from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from domain.clock import utcnow
from tests.cluster import FAST_SETTINGS, Cluster
from tests.workers.invariants import check_invariants
from tests.workers.support import discard_open_jobs
from workers.redis_server import EmbeddedRedis



@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("JOBTOWER_TEST_REDIS_URL"):
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushall()
    os.environ["REDIS_URL"] = redis_url  # test job types count executions here
    yield client
    await client.aclose()


@pytest.fixture
async def cluster(
    database: str, request: pytest.FixtureRequest, redis: Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    """Real worker and dispatcher processes on the test database and Redis; stopped afterwards.

    They serve only this test's jobs: what earlier tests (the domain tests too) left open
    in the shared database is discarded first. Once they are stopped, the jobs the test
    made must be consistent (``tests.workers.invariants``).
    """
    await discard_open_jobs()
    began = utcnow()
    running = Cluster(
        database_url=request.getfixturevalue(f"{database}_url"),
        redis_url=redis_url,
        log_dir=tmp_path / "logs",
        settings=dict(FAST_SETTINGS),
    )
    yield running
    running.stop_all()
    await check_invariants(since=began)
