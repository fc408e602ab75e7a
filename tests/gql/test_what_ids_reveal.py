"""What a tenant can learn of others from ids, cursors and refusals: nothing.

Primary keys are sequences every tenant shares; ids and cursors must not show them. An id or a
cursor a client made up is refused as the API's own refusals say, never with an internal error;
another tenant's id costs the same queries as an id that does not exist; an idempotency key
never tells an operator that a system job used it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import pytest

from domain.access import Role
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import JobLog, Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from tests.domain.scenarios import add_chunk, put_in, start
from tests.gql.support import Api, TenantApi, counting_statements, gid
from tests.gql.test_mutations import complete_wait, refusal, start_job


def readable(text: str) -> str:
    """What a curious client reads out of an id or a cursor by decoding its base64: the ids
    were ``Job:42``, the cursors ``[42]``."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


NODE = "query Node($id: ID!) { node(id: $id) { id } }"
JOBS = "query Jobs($after: String) { jobs(first: 1, after: $after) { edges { cursor node { id } } } }"
LISTS = """
query Lists($id: ID!, $first: Int) { job(id: $id) {
  children(first: $first) { pageInfo { endCursor } }
  logs(first: $first) { pageInfo { endCursor } }
} }
"""


async def test_ids_and_cursors_say_nothing_of_the_rows_other_tenants_made(acme_api: TenantApi, tenant_api):
    globex = await tenant_api()
    acme_operator = await acme_api.as_(Role.OPERATOR)
    globex_operator = await globex.as_(Role.OPERATOR)
    first = (await start_job(acme_operator))["job"]["id"]
    for _ in range(3):
        await start_job(globex_operator)
    second = await start(acme_operator.actor)
    child = await start(acme_operator.actor, parent_id=second.id)
    await write_logs([LogLine(job_id=second.id, level=LogLevel.INFO, message="hello")])
    line = await JobLog.get(job_id=second.id)

    ids = [first, gid("Job", second.id), gid("Job", child.id), gid("LogEntry", line.id)]
    cursors = [edge["cursor"] for edge in (await acme_operator.data(JOBS))["jobs"]["edges"]]
    lists = (await acme_operator.data(LISTS, {"id": gid("Job", second.id), "first": 1}))["job"]
    cursors += [lists["children"]["pageInfo"]["endCursor"], lists["logs"]["pageInfo"]["endCursor"]]

    for id in ids:
        assert not readable(id).startswith(("Job:", "LogEntry:")) and len(id) == 22, (id, readable(id))
    for cursor in cursors:
        values = json.loads(readable(cursor))
        assert all(isinstance(value, str) for value in values), values
        assert not {str(second.id), str(child.id), str(line.id)} & set(values), values
    # The same row always has the same id; a job's cursor holds that id, not the number behind it.
    assert (await acme_operator.data(NODE, {"id": first}))["node"]["id"] == first


async def test_an_id_made_up_or_altered_by_a_client_names_nothing(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)
    real = gid("Job", job.id)
    altered = real[:-2] + ("AA" if real[-2:] != "AA" else "BB")
    for forged in (b64(f"Job:{job.id}").rstrip("="), altered, real.swapcase(), gid("Record", job.id)):
        assert (await viewer.data(NODE, {"id": forged}))["node"] is None, forged
    assert (await viewer.data(NODE, {"id": real}))["node"] == {"id": real}


# ---------------------------------------------------------------- malformed cursors

NOT_CURSORS = {
    "text": b64('["x"]'),
    "object": b64("[{}]"),
    "null": b64("[null]"),
    "nan": b64("[NaN]"),
    "infinity": b64("[1e400]"),
    "too-big": b64(f"[{10**30}]"),
    "negative": b64("[-1]"),
    "boolean": b64("[true]"),
    "fraction": b64("[1.5]"),
    "deep": b64("[" * 10_000),
    "not-base64": "%%%not a cursor%%%",
    "not-json": b64("{not json"),
    "random": "q83vEjRWeJA",
    "a-job-cursor-naive-time": b64('["2026-01-01T00:00:00", "x"]'),
    "a-job-cursor-big-id": b64(f'["2026-01-01T00:00:00+00:00", {10**30}]'),
    "a-job-cursor-number-time": b64('[1, "x"]'),
}

CONNECTIONS = {
    "jobs": "query Q($id: ID!, $after: String) { jobs(after: $after) { totalCount } job(id: $id) { id } }",
    "records": "query Q($id: ID!, $after: String) { job(id: $id) { records(after: $after) { totalCount } } }",
    "chunks": "query Q($id: ID!, $after: String) { job(id: $id) { chunks(after: $after) { totalCount } } }",
    "children": "query Q($id: ID!, $after: String) { job(id: $id) { children(after: $after) { totalCount } } }",
    "logs": "query Q($id: ID!, $after: String) { job(id: $id) { logs(after: $after) { totalCount } } }",
    "history": "query Q($id: ID!, $after: String) { job(id: $id) { history(after: $after) { totalCount } } }",
    "chunk-records": "query Q($id: ID!, $after: String) { job(id: $id) { chunks(first: 1) { edges { node {"
    " records(after: $after) { totalCount } } } } } }",
    "bulk-operations": "query Q($id: ID!, $after: String) { bulkOperations(after: $after) { totalCount } job(id: $id) { id } }",
    "api-tokens": "query Q($id: ID!, $after: String) { apiTokens(after: $after) { totalCount } job(id: $id) { id } }",
}


@pytest.fixture
async def lists_to_page(acme_api: TenantApi) -> tuple[Api, str]:
    admin = await acme_api.as_(Role.ADMIN)
    job = await start(admin.actor)
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED])
    return admin, gid("Job", job.id)


@pytest.mark.parametrize("connection", CONNECTIONS, ids=list(CONNECTIONS))
async def test_a_cursor_no_list_gave_out_is_bad_user_input_on_every_connection(lists_to_page, connection: str):
    admin, job_id = lists_to_page
    for name, cursor in NOT_CURSORS.items():
        body = await admin.execute(CONNECTIONS[connection], {"id": job_id, "after": cursor})
        assert [error["extensions"] for error in body.get("errors", [])] == [
            {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "after"}
        ], (name, body)


async def test_a_cursor_of_one_list_is_refused_by_another(lists_to_page):
    admin, job_id = lists_to_page
    jobs_cursor = (await admin.data(JOBS))["jobs"]["edges"][0]["cursor"]
    body = await admin.execute(CONNECTIONS["logs"], {"id": job_id, "after": jobs_cursor})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# ---------------------------------------------------------------- another tenant's ids cost what missing ones do


async def statements_of(api: Api, query: str, variables: dict[str, Any]) -> tuple[int, Any]:
    with counting_statements() as counter:
        data = await api.data(query, variables)
    return len(counter.statements), data


async def test_another_tenants_record_or_chunk_costs_the_queries_a_missing_one_does(acme_api: TenantApi, tenant_api):
    globex = await tenant_api()
    viewer = await acme_api.as_(Role.VIEWER)
    theirs = await start((await globex.as_(Role.OPERATOR)).actor)
    chunk = await add_chunk(theirs, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    record = await Record.get(chunk_id=chunk.id)
    await viewer.data(NODE, {"id": gid("Job", 2**62)})  # the token's first use writes lastUsedAt once

    for kind, pk in (("Record", record.id), ("Chunk", chunk.id)):
        missing, answer = await statements_of(viewer, NODE, {"id": gid(kind, 2**62)})
        assert answer == {"node": None}
        foreign, answer = await statements_of(viewer, NODE, {"id": gid(kind, pk)})
        assert answer == {"node": None}
        assert foreign == missing, kind


async def test_complete_wait_on_another_tenants_record_costs_the_queries_a_missing_one_does(
    acme_api: TenantApi, tenant_api
):
    globex = await tenant_api()
    operator = await acme_api.as_(Role.OPERATOR)
    theirs = await put_in(await start((await globex.as_(Role.OPERATOR)).actor), JobStatus.WAITING)
    chunk = await add_chunk(theirs, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    record = await Record.get(chunk_id=chunk.id)
    await complete_wait(operator, 2**62)  # the token's first use writes lastUsedAt once

    with counting_statements() as missing:
        refusal(await complete_wait(operator, 2**62), "NotFoundError", "NOT_FOUND")
    with counting_statements() as foreign:
        refusal(await complete_wait(operator, record.id), "NotFoundError", "NOT_FOUND")
    assert len(foreign.statements) == len(missing.statements)
    assert (await Record.get(id=record.id)).status is RecordStatus.WAITING


# ---------------------------------------------------------------- idempotency keys


async def test_an_operator_cannot_tell_that_a_system_job_used_an_idempotency_key(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    operator = await acme_api.as_(Role.OPERATOR)
    system = await start_job(admin, type="test.system", idempotencyKey="nightly-prune")
    assert system["__typename"] == "JobStarted", system

    used = await start_job(operator, idempotencyKey="nightly-prune")
    fresh = await start_job(operator, idempotencyKey="never-used")

    assert used["__typename"] == fresh["__typename"] == "JobStarted", (used, fresh)
    assert used["job"]["id"] != system["job"]["id"]
    # The key still answers the operator's own job, and the admin's system job, each the same.
    assert (await start_job(operator, idempotencyKey="nightly-prune"))["job"]["id"] == used["job"]["id"]
    again = await start_job(admin, type="test.system", idempotencyKey="nightly-prune")
    assert again["job"]["id"] == system["job"]["id"]


async def test_below_admin_a_system_type_is_refused_whatever_the_key(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    operator = await acme_api.as_(Role.OPERATOR)
    await start_job(admin, type="test.system", idempotencyKey="used")
    for key in ("used", "unused"):
        refusal(await start_job(operator, type="test.system", idempotencyKey=key), "ForbiddenError", "FORBIDDEN")
