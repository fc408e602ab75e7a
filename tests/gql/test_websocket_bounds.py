"""The GraphQL WebSocket's bounds, on ``jobtower api`` in its own process: a message no larger
than an HTTP body, a principal's connections and subscriptions counted (across API processes,
and freed when a process dies), and a token revoked or a role changed taking effect on the
connections already open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest

from domain.access import Role
from domain.models import Principal, Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from tests.cluster import Cluster
from tests.domain.scenarios import add_chunk, put_in, start
from tests.gql.conftest import ServedApi, serving_api
from tests.gql.support import Api, TenantApi, gid
from tests.gql.test_tenancy import CREATE_TOKEN, REVOKE_TOKEN, result
from tests.gql.ws import GraphQLWebSocket, Rejected, graphql_ws, ws_url
from tests.services import free_port

MAX_CONNECTIONS = 3
MAX_SUBSCRIPTIONS = 4
MAX_MESSAGE_BYTES = 64 * 1024  # the default HTTP body limit
RECHECK_SECONDS = 0.2
# A closed connection's place is freed when the server has seen the close, a moment after the client.
FREED_SECONDS = 10


@pytest.fixture(scope="module")
def bounded_api(
    database: str, request: pytest.FixtureRequest, redis_url: str, graphql_execution: str, tmp_path_factory
) -> Iterator[ServedApi]:
    log = tmp_path_factory.mktemp("bounded-api") / "api.log"
    with serving_api(
        request.getfixturevalue(f"{database}_url"),
        redis_url,
        graphql_execution,
        log,
        ws_max_connections=MAX_CONNECTIONS,
        ws_max_subscriptions=MAX_SUBSCRIPTIONS,
        ws_recheck_seconds=RECHECK_SECONDS,
    ) as served:
        yield served


@pytest.fixture
async def tenant(bounded_api: ServedApi, tenant_api) -> AsyncIterator[TenantApi]:
    async with httpx.AsyncClient(base_url=bounded_api.url, timeout=30) as client:
        yield TenantApi(client, (await tenant_api()).tenant)


def url(served: ServedApi) -> str:
    return ws_url(served.url)


async def closed(ws: GraphQLWebSocket, timeout: float = 10) -> tuple[int | None, str]:
    """The code and reason the server closed ``ws`` with; fails if it stays open."""
    try:
        await asyncio.wait_for(ws.connection.wait_closed(), timeout)
    except TimeoutError:
        raise AssertionError(f"the connection is still open after {timeout}s") from None
    return ws.connection.close_code, ws.connection.close_reason or ""


JOB_UPDATED = "subscription ($id: ID!) { jobUpdated(id: $id, afterSeq: 0) { seq } }"
ANSWER = "mutation ($id: ID!, $payload: JSON) { completeWait(recordId: $id, payload: $payload) { __typename } }"


async def test_a_message_larger_than_an_http_body_closes_the_connection_and_runs_nothing(
    bounded_api: ServedApi, tenant: TenantApi
):
    operator = await tenant.as_(Role.OPERATOR)
    job = await put_in(await start(operator.actor), JobStatus.WAITING)
    chunk = await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    record = await Record.get(chunk_id=chunk.id)

    async with graphql_ws(url(bounded_api), operator.token) as ws:
        await ws.subscribe(ANSWER, {"id": gid("Record", record.id), "payload": {"note": "x" * MAX_MESSAGE_BYTES}})
        code, _ = await closed(ws)

    assert code == 1009  # message too big
    stored = await Record.get(id=record.id)
    assert (stored.status, stored.wait_payload) == (RecordStatus.WAITING, None)
    async with graphql_ws(url(bounded_api), operator.token) as ws:  # a small one still runs
        answered = await ws.subscribe(ANSWER, {"id": gid("Record", record.id), "payload": {"note": "ok"}})
        assert await answered.data() == {"completeWait": {"__typename": "RecordOperationSuccess"}}


async def test_a_principal_opens_only_so_many_connections(bounded_api: ServedApi, tenant: TenantApi):
    viewer = await tenant.as_(Role.VIEWER)
    others = await tenant.as_(Role.OPERATOR)
    async with (
        graphql_ws(url(bounded_api), viewer.token),
        graphql_ws(url(bounded_api), viewer.token),
        graphql_ws(url(bounded_api), viewer.token) as third,
    ):
        with pytest.raises(Rejected) as refused:
            async with graphql_ws(url(bounded_api), viewer.token):
                pass
        assert refused.value.code == 4429
        assert f"{MAX_CONNECTIONS} open connections" in refused.value.reason
        async with graphql_ws(url(bounded_api), others.token) as theirs:  # another principal's own count
            assert await (await theirs.subscribe("{ viewer { role } }")).data() == {"viewer": {"role": "OPERATOR"}}
        await third.close()
        async with AsyncExitStack() as stack:
            again = await once_a_place_is_free(stack, url(bounded_api), viewer.token)
            assert await (await again.subscribe("{ viewer { role } }")).data() == {"viewer": {"role": "VIEWER"}}


async def once_a_place_is_free(stack: AsyncExitStack, to: str, token: str, timeout: float = FREED_SECONDS):
    """A connection opened as soon as the principal has a place again (refused with 4429 until then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await stack.enter_async_context(graphql_ws(to, token))
        except Rejected as refused:
            if refused.code != 4429 or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def test_a_principal_holds_only_so_many_active_subscriptions_across_its_connections(
    bounded_api: ServedApi, tenant: TenantApi
):
    viewer = await tenant.as_(Role.VIEWER)
    job = gid("Job", (await start((await tenant.as_(Role.OPERATOR)).actor)).id)
    async with graphql_ws(url(bounded_api), viewer.token) as first, graphql_ws(url(bounded_api), viewer.token) as second:
        held = []
        for ws in (first, second, first, second):
            operation = await ws.subscribe(JOB_UPDATED, {"id": job})
            assert await operation.data() == {"jobUpdated": {"seq": 1}}  # active on the server
            held.append((ws, operation))

        refused = await (await second.subscribe(JOB_UPDATED, {"id": job})).message()

        assert refused["type"] == "error", refused
        [error] = refused["payload"]
        assert error["extensions"] == {"code": "RATE_LIMITED", "jobtowerCode": "TOO_MANY_SUBSCRIPTIONS", "limit": 4}
        ws, operation = held[1]
        await second.complete(operation)  # the connection's messages are taken in order
        retried = await second.subscribe(JOB_UPDATED, {"id": job})
        assert await retried.data() == {"jobUpdated": {"seq": 1}}


async def created_token(admin: Api, role: str) -> tuple[str, str]:
    created = await result(admin, CREATE_TOKEN, {"input": {"name": f"{role.lower()} bot", "role": role}})
    return created["token"], created["apiToken"]["id"]


async def test_a_revoked_token_closes_the_connections_it_opened(bounded_api: ServedApi, tenant: TenantApi):
    admin = await tenant.as_(Role.ADMIN)
    secret, token_id = await created_token(admin, "OPERATOR")
    job = gid("Job", (await start(admin.actor)).id)
    async with graphql_ws(url(bounded_api), secret) as ws:
        operation = await ws.subscribe(JOB_UPDATED, {"id": job})
        assert await operation.data() == {"jobUpdated": {"seq": 1}}

        assert (await result(admin, REVOKE_TOKEN, {"id": token_id}))["__typename"] == "ApiTokenRevoked"

        assert await closed(ws) == (4403, "the token was revoked")


async def test_a_changed_role_closes_the_connections_opened_with_the_old_one(bounded_api: ServedApi, tenant: TenantApi):
    admin = await tenant.as_(Role.ADMIN)
    secret, _ = await created_token(admin, "ADMIN")
    async with graphql_ws(url(bounded_api), secret) as ws:
        assert await (await ws.subscribe("{ viewer { role } }")).data() == {"viewer": {"role": "ADMIN"}}

        await Principal.filter(tenant_id=tenant.tenant.id, name="admin bot").update(role=Role.VIEWER)

        assert await closed(ws) == (4403, "the token's role changed: reconnect")
    async with graphql_ws(url(bounded_api), secret) as ws:
        assert await (await ws.subscribe("{ viewer { role } }")).data() == {"viewer": {"role": "VIEWER"}}


async def test_a_connection_whose_token_stays_good_stays_open(bounded_api: ServedApi, tenant: TenantApi):
    viewer = await tenant.as_(Role.VIEWER)
    async with graphql_ws(url(bounded_api), viewer.token) as ws:
        with pytest.raises(AssertionError, match="still open"):
            await closed(ws, timeout=1)
        assert await (await ws.subscribe("{ viewer { role } }")).data() == {"viewer": {"role": "VIEWER"}}


@dataclass
class TwoApis:
    cluster: Cluster
    ports: tuple[int, int]

    def url(self, which: int) -> str:
        return ws_url(f"http://127.0.0.1:{self.ports[which]}")


@pytest.fixture(scope="module")
def two_apis(database: str, request: pytest.FixtureRequest, redis_url: str, tmp_path_factory) -> Iterator[TwoApis]:
    """Two ``jobtower api`` processes of one deployment: the same database, the same Redis."""
    cluster = Cluster(
        database_url=request.getfixturevalue(f"{database}_url"),
        redis_url=redis_url,
        log_dir=tmp_path_factory.mktemp("two-apis"),
        settings={
            "ws_max_connections": MAX_CONNECTIONS,
            "ws_max_subscriptions": MAX_SUBSCRIPTIONS,
            "ws_recheck_seconds": RECHECK_SECONDS,
        },
    )
    apis = TwoApis(cluster, (free_port(), free_port()))
    try:
        for which, port in enumerate(apis.ports):
            cluster.start_api(port, name=f"api-{which}")
        yield apis
    finally:
        cluster.stop_all()


async def test_a_principals_places_are_shared_by_every_api_process(two_apis: TwoApis, tenant_api):
    tenant = await tenant_api()
    viewer = await tenant.as_(Role.VIEWER)
    job = gid("Job", (await start((await tenant.as_(Role.OPERATOR)).actor)).id)
    async with (
        graphql_ws(two_apis.url(0), viewer.token) as first,
        graphql_ws(two_apis.url(0), viewer.token),
        graphql_ws(two_apis.url(1), viewer.token) as third,
    ):
        for other in (1, 0):
            with pytest.raises(Rejected) as refused:
                async with graphql_ws(two_apis.url(other), viewer.token):
                    pass
            assert refused.value.code == 4429

        for ws in (first, third, first, third):
            assert await (await ws.subscribe(JOB_UPDATED, {"id": job})).data() == {"jobUpdated": {"seq": 1}}
        refused = await (await first.subscribe(JOB_UPDATED, {"id": job})).message()
        assert refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["jobtowerCode"] == "TOO_MANY_SUBSCRIPTIONS"


async def test_the_places_held_on_a_process_that_died_are_freed(two_apis: TwoApis, tenant_api):
    viewer = await (await tenant_api()).as_(Role.VIEWER)
    async with AsyncExitStack() as held:
        for _ in range(MAX_CONNECTIONS):
            await held.enter_async_context(graphql_ws(two_apis.url(1), viewer.token))
        with pytest.raises(Rejected):
            async with graphql_ws(two_apis.url(0), viewer.token):
                pass

        two_apis.cluster.kill("api-1")  # SIGKILL: it releases nothing
        try:
            async with AsyncExitStack() as stack:
                survivor = await once_a_place_is_free(stack, two_apis.url(0), viewer.token)
                assert await (await survivor.subscribe("{ viewer { role } }")).data() == {"viewer": {"role": "VIEWER"}}
        finally:
            two_apis.cluster.start_api(two_apis.ports[1], name="api-1")
