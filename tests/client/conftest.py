"""The generated client (``jobtower_client``) against ``jobtower api`` served by uvicorn in its own
process, with real workers and a dispatcher for the tests that run jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from domain.access import Role
from jobtower_client import Client
from tests.conftest import TenantFixture
from tests.gql.live import Api, api, cluster, live_redis_url, redis, token  # noqa: F401  (fixtures)

Bot = Callable[[Role], Awaitable[Client]]


@pytest.fixture
async def bot(api: Api, acme: TenantFixture) -> AsyncIterator[Bot]:
    """Clients of the served API with a new token of the given role in ``acme``, closed afterwards."""
    clients: list[Client] = []

    async def connect(role: Role = Role.OPERATOR) -> Client:
        bearer = f"Bearer {await token(acme, role)}"
        client = Client(
            url=f"{api.http_url}/graphql",
            headers={"authorization": bearer},
            ws_url=api.ws,
            ws_connection_init_payload={"authorization": bearer},
        )
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.http_client.aclose()
