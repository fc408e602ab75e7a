"""What worker, dispatcher and API processes measure, as a real ``jobtower api`` serves it at ``/metrics``.

The workers and the dispatcher serve no ``/metrics``: what they count reaches the API's scrape
through Redis, so these tests run them as separate processes and read only the scrape.
"""

from __future__ import annotations

import signal

import httpx
from prometheus_client.parser import text_string_to_metric_families

from domain.access import Role
from domain.models import Chunk
from domain.statuses import ChunkStatus, JobStatus
from domain.tenants import create_token
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.gql.ws import graphql_ws
from tests.services import free_port
from tests.workers.support import start, wait_for_status

METRICS_TOKEN = "operating-metrics"
DISPATCH = "jobtower_chunk_dispatch_latency_seconds"
LEASES_LOST = "jobtower_chunk_leases_lost_total"
SUBSCRIPTIONS = "jobtower_websocket_subscriptions"


def start_api(cluster: Cluster) -> str:
    port = free_port()
    # Every scrape reads afresh, so a test sees each change at once.
    cluster.start_api(port, metrics_token=METRICS_TOKEN, metrics_cache_seconds=0)
    return f"http://127.0.0.1:{port}"


async def scrape(api: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the scrape, by name and labels."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{api}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def sample(api: str, name: str, **labels: str) -> float:
    return (await scrape(api))[(name, tuple(sorted(labels.items())))]


async def scraped(api: str, name: str, expected: float, what: str, **labels: str) -> None:
    async def reached() -> bool:
        return await sample(api, name, **labels) == expected

    await wait_until(reached, timeout=60, what=what)


async def test_the_dispatch_latency_counts_every_chunk_a_worker_starts(cluster: Cluster, acme: TenantFixture):
    cluster.start_dispatcher()
    cluster.start_worker()
    api = start_api(cluster)
    assert await sample(api, f"{DISPATCH}_count") == 0

    job = await start(acme, "test.plain", records=30, chunk_size=10)
    await wait_for_status(job, JobStatus.FINISHED)

    samples = await scrape(api)
    assert samples[(f"{DISPATCH}_count", ())] == 3
    # Each waited from its enumeration to its claim: under the finished job's whole run.
    assert samples[(f"{DISPATCH}_bucket", (("le", "+Inf"),))] == 3
    assert 0 <= samples[(f"{DISPATCH}_sum", ())] < 3 * 60
    assert samples[(LEASES_LOST, (("outcome", "retried"),))] == 0


async def test_a_worker_killed_holding_a_chunk_counts_a_lost_lease(cluster: Cluster, acme: TenantFixture):
    cluster.start_dispatcher()
    cluster.start_worker("doomed", worker_concurrency=1)
    api = start_api(cluster)
    # One chunk that takes a few seconds, so the worker dies holding it.
    job = await start(acme, "test.plain", records=2, chunk_size=2, stepMs=1500)

    async def running() -> bool:
        return await Chunk.filter(job_id=job.id, status=ChunkStatus.RUNNING).exists()

    await wait_until(running, timeout=60, what="the chunk to run")
    cluster.kill("doomed", signal.SIGKILL)
    cluster.start_worker("survivor")

    await scraped(api, LEASES_LOST, 1, "the lost lease to be counted", outcome="retried")
    await wait_for_status(job, JobStatus.FINISHED)
    samples = await scrape(api)
    assert samples[(LEASES_LOST, (("outcome", "given_up"),))] == 0
    assert samples[(f"{DISPATCH}_count", ())] == 2  # taken twice: by the dead worker, then again


async def test_an_open_subscription_counts_as_a_subscriber(cluster: Cluster, acme: TenantFixture):
    api = start_api(cluster)
    token = (await create_token(acme.tenant.slug, Role.VIEWER, "live screen")).token
    assert await sample(api, SUBSCRIPTIONS) == 0

    async with graphql_ws(api.replace("http://", "ws://") + "/graphql", token) as socket:
        live = await socket.subscribe("subscription { liveStatus { eventsFlowing } }")
        assert await live.data() == {"liveStatus": {"eventsFlowing": True}}
        assert await sample(api, SUBSCRIPTIONS) == 1

        await socket.complete(live)
        await scraped(api, SUBSCRIPTIONS, 0, "the subscription to end")
