"""``bulkOperationUpdated`` over a real WebSocket: ``jobtower api`` in its own process, real
worker and dispatcher processes running the operation, and a client that follows it from
PENDING to the end; a cancel reaches it too, and another tenant's operation is not found."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.access import Role
from domain.models import Job
from domain.statuses import JobStatus
from tests.cluster import Cluster
from tests.conftest import MakeTenant, TenantFixture
from tests.gql.live import Api, api, cluster, live_redis_url, redis, token  # noqa: F401  (fixtures)
from tests.gql.support import gid
from tests.gql.ws import GraphQLWebSocket, graphql_ws
from tests.workers.support import idle_pending_jobs

JOBS = 300
UPDATED = """
subscription($id: ID!) { bulkOperationUpdated(id: $id) { id status total done succeeded failed endedAt } }"""
START = """
mutation($input: StartBulkOperationInput!) {
  startBulkOperation(input: $input) { ... on BulkOperationStarted { bulkOperation { id status total } } }
}"""
CANCEL = "mutation($id: ID!) { cancelBulkOperation(id: $id) { __typename } }"
READ = "query($id: ID!) { bulkOperation(id: $id) { id status total done succeeded failed endedAt } }"


async def request(ws: GraphQLWebSocket, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A query or mutation over the same WebSocket."""
    operation = await ws.subscribe(document, variables)
    data = await operation.data()
    assert (await operation.message())["type"] == "complete"
    return data


def ended(received: list[dict[str, Any]]) -> bool:
    return bool(received) and received[-1]["bulkOperationUpdated"]["status"] in ("COMPLETED", "CANCELED")


@pytest.mark.parametrize("database", ["postgres", "sqlite"], indirect=True)
async def test_the_subscription_follows_the_operation_to_its_end(api: Api, cluster: Cluster, acme: TenantFixture):
    job_ids = await idle_pending_jobs(acme, JOBS)

    async with graphql_ws(api.ws, await token(acme, Role.OPERATOR)) as ws:
        started = await request(ws, START, {"input": {"action": "STOP", "filter": {"status": ["PENDING"]}}})
        operation_id = started["startBulkOperation"]["bulkOperation"]["id"]
        updates = await ws.subscribe(UPDATED, {"id": operation_id})
        first = await updates.data()
        cluster.start_dispatcher()
        cluster.start_worker()
        received = [first, *await updates.collect(ended, timeout=120, what="the operation to complete")]
        final = await request(ws, READ, {"id": operation_id})

        assert (await updates.message())["type"] == "complete"
    states = [message["bulkOperationUpdated"] for message in received]
    assert (states[0]["status"], states[0]["total"], states[0]["done"]) == ("PENDING", JOBS, 0)
    assert states[-1] == final["bulkOperation"]
    assert (states[-1]["status"], states[-1]["done"], states[-1]["succeeded"]) == ("COMPLETED", JOBS, JOBS)
    done = [state["done"] for state in states]
    assert done == sorted(done)  # progress only grows
    shown = [(state["status"], state["done"]) for state in states]
    assert len(set(shown)) == len(shown)  # and each state once
    assert any(state["status"] == "RUNNING" for state in states)
    assert set(await Job.filter(id__in=job_ids).values_list("status", flat=True)) == {JobStatus.STOPPED}


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_cancel_reaches_the_subscribers_and_ends_the_subscription(api: Api, make_tenant: MakeTenant, redis):
    acme, globex = await make_tenant(), await make_tenant()
    await idle_pending_jobs(acme, 3)

    async with graphql_ws(api.ws, await token(acme, Role.OPERATOR)) as ws:
        started = await request(ws, START, {"input": {"action": "CANCEL", "filter": {}}})
        operation_id = started["startBulkOperation"]["bulkOperation"]["id"]
        updates = await ws.subscribe(UPDATED, {"id": operation_id})
        assert (await updates.data())["bulkOperationUpdated"]["status"] == "PENDING"  # no worker runs here

        canceled = await request(ws, CANCEL, {"id": operation_id})
        last = await updates.data()

        assert canceled == {"cancelBulkOperation": {"__typename": "BulkOperationCanceled"}}
        assert (last["bulkOperationUpdated"]["status"], last["bulkOperationUpdated"]["done"]) == ("CANCELED", 0)
        assert (await updates.message())["type"] == "complete"

    async with graphql_ws(api.ws, await token(globex, Role.ADMIN)) as ws:
        answers = []
        for id in (operation_id, gid("BulkOperation", 2**62)):
            subscription = await ws.subscribe(UPDATED, {"id": id})
            refused = json.dumps(await subscription.message()).replace(id, "<ID>")
            answers.append(refused.replace(f'"id": "{subscription.id}"', '"id": "<OP>"'))
    assert answers[0] == answers[1]
    assert '"NOT_FOUND"' in answers[0]
