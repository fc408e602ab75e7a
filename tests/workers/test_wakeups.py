"""A job started through the API wakes the dispatcher: it runs at once, not at the dispatcher's next round."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from domain.access import Role
from domain.models import Job
from domain.statuses import JobStatus
from domain.tenants import create_token
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.services import free_port
from tests.workers.support import wait_for_status
from workers import keys

# The dispatcher's rounds come this far apart: the test would time out long before a second one.
ROUND_SECONDS = 3600
START = 'mutation { startJob(input: {type: "test.plain", params: {records: 3}}) { __typename } }'


async def start_over_http(cluster: Cluster, tenant: TenantFixture) -> Job:
    """``startJob`` as a client sends it, to a real ``jobtower api``; the job it started."""
    port = free_port()
    cluster.start_api(port)
    token = (await create_token(tenant.tenant.slug, Role.OPERATOR, "operator")).token
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": START}, headers={"authorization": f"Bearer {token}"}
        )
    assert response.json() == {"data": {"startJob": {"__typename": "JobStarted"}}}
    return await Job.get(tenant_id=tenant.tenant.id)


async def a_round_ran_with_a_live_worker(cluster: Cluster) -> None:
    """The dispatcher's first round, at its start, is over, and the worker announces its slots."""
    redis = Redis.from_url(cluster.redis_url)
    try:

        async def ready() -> bool:
            leading = await redis.exists(keys.DISPATCHER_LEADER)
            workers = [name async for name in redis.scan_iter(match=keys.WORKER_PATTERN)]
            return bool(leading and workers)

        await wait_until(ready, timeout=60, what="a dispatcher round and a live worker")
    finally:
        await redis.aclose()


async def test_a_job_started_on_an_idle_cluster_runs_without_waiting_for_a_dispatcher_round(
    cluster: Cluster, acme: TenantFixture
):
    cluster.settings["dispatch_interval_seconds"] = ROUND_SECONDS
    cluster.start_worker()
    cluster.start_dispatcher()
    await a_round_ran_with_a_live_worker(cluster)

    job = await start_over_http(cluster, acme)

    # Enumerated and run within the minute, while the dispatcher's next round is an hour away.
    finished = await wait_for_status(job, JobStatus.FINISHED, timeout=60)
    assert finished.done == 3


async def test_with_wake_ups_off_the_rounds_still_run_every_job(cluster: Cluster, acme: TenantFixture):
    """What a lost wake-up leaves behind: the job waits for a round, and runs then."""
    cluster.settings["dispatch_wakeups"] = False
    cluster.start_worker()
    cluster.start_dispatcher()

    job = await start_over_http(cluster, acme)

    finished = await wait_for_status(job, JobStatus.FINISHED, timeout=60)
    assert finished.done == 3
