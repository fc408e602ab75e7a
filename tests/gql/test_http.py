"""GraphQL over HTTP against ``jobtower api`` running in its own process (uvicorn on a free port):
media types and status codes, error codes, tokens, size and shape limits, masked crashes, WebSocket
origins. Every test runs twice: with the API's fast execution and with Strawberry's own."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from domain.access import Role
from domain.clock import utcnow
from domain.models import Chunk, Job, Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from gql.schema import MAX_ALIASES, MAX_DEPTH, MAX_LIST_ITEMS
from tests.domain.scenarios import start
from tests.gql.conftest import BOTH_EXECUTIONS, ServedApi
from tests.gql.support import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, Api, TenantApi, gid
from tests.gql.ws import graphql_ws, ws_url

pytestmark = BOTH_EXECUTIONS

VIEWER_QUERY = "query Me { viewer { role name tenant { slug } } }"


@pytest.fixture
async def tenant(served_http: httpx.AsyncClient, make_tenant) -> TenantApi:
    return TenantApi(served_http, (await make_tenant()).tenant)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def only_error(response: httpx.Response) -> dict:
    body = response.json()
    assert "data" not in body, body
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


# ---------------------------------------------------------------- GET and POST


async def test_a_query_over_get_answers_in_the_media_type_the_client_accepts(tenant: TenantApi):
    viewer = await tenant.as_(Role.VIEWER)
    expected = {"viewer": {"role": "VIEWER", "name": viewer.principal.name, "tenant": {"slug": tenant.tenant.slug}}}

    modern = await viewer.get(VIEWER_QUERY, accept=GRAPHQL_RESPONSE_JSON)
    legacy = await viewer.get(VIEWER_QUERY, accept=APPLICATION_JSON)
    preferring_json = await viewer.get(
        VIEWER_QUERY, accept=f"{APPLICATION_JSON}, {GRAPHQL_RESPONSE_JSON};q=0.5"
    )
    anything = await viewer.get(VIEWER_QUERY, accept="*/*")
    unspecified = viewer.http.build_request(
        "GET", "/graphql", params={"query": VIEWER_QUERY}, headers={"authorization": f"Bearer {viewer.token}"}
    )
    del unspecified.headers["accept"]
    unspecified = await viewer.http.send(unspecified)

    for response, expected_type in (
        (modern, GRAPHQL_RESPONSE_JSON),
        (legacy, APPLICATION_JSON),
        (preferring_json, APPLICATION_JSON),
        # GraphQL over HTTP: the server's choice, and since 2025 the default without Accept.
        (anything, GRAPHQL_RESPONSE_JSON),
        (unspecified, GRAPHQL_RESPONSE_JSON),
    ):
        assert response.status_code == 200, response.text
        assert media_type(response) == expected_type
        assert response.json() == {"data": expected}


async def test_a_get_query_takes_its_variables_from_the_url(tenant: TenantApi):
    operator = await tenant.as_(Role.OPERATOR)
    job = await start(operator.actor, name="from the url")

    response = await operator.get(
        "query One($id: ID!) { job(id: $id) { name } }", {"id": gid("Job", job.id)}
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"job": {"name": "from the url"}}}


async def test_a_mutation_over_get_is_refused_with_405_and_changes_nothing(tenant: TenantApi):
    operator = await tenant.as_(Role.OPERATOR)
    job = await start(operator.actor)

    response = await operator.get(
        "mutation Hide($id: ID!) { hideJob(id: $id) { __typename } }", {"id": gid("Job", job.id)}
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert media_type(response) == GRAPHQL_RESPONSE_JSON
    error = only_error(response)
    assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in error["message"]
    await job.refresh_from_db()
    assert job.hidden is False

    over_post = await operator.post(
        "mutation Hide($id: ID!) { hideJob(id: $id) { __typename } }", {"id": gid("Job", job.id)}
    )
    assert over_post.json() == {"data": {"hideJob": {"__typename": "JobOperationSuccess"}}}


@pytest.mark.parametrize(
    ("document", "variables", "says", "code"),
    [
        ("{ viewer { role ", {}, "Syntax Error", "GRAPHQL_PARSE_FAILED"),
        ("{ viewer { shoeSize } }", {}, "Cannot query field 'shoeSize'", "GRAPHQL_VALIDATION_FAILED"),
        ('{ jobs(first: "ten") { totalCount } }', {}, "Int cannot represent", "GRAPHQL_VALIDATION_FAILED"),
        (
            '{ jobs(filter: {createdAfter: "yesterday"}) { totalCount } }',
            {},
            "Value cannot represent a DateTime",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("query One($id: ID!) { job(id: $id) { name } }", {}, "Variable '$id' has invalid value", "BAD_USER_INPUT"),
        (
            "query One($id: ID!) { job(id: $id) { name } }",
            {"id": {"not": "an id"}},
            "Variable '$id' has invalid value",
            "BAD_USER_INPUT",
        ),
        (
            "query Since($at: DateTime!) { jobs(filter: {createdAfter: $at}) { totalCount } }",
            {"at": "yesterday"},
            "Variable '$at' has invalid value",
            "BAD_USER_INPUT",
        ),
    ],
    ids=["syntax", "unknown-field", "wrong-type", "bad-datetime-literal", "missing-variable", "bad-variable", "bad-datetime"],
)
async def test_a_request_that_does_not_parse_or_validate_is_a_400_without_data(
    tenant: TenantApi, document: str, variables: dict, says: str, code: str
):
    viewer = await tenant.as_(Role.VIEWER)

    modern = await viewer.post(document, variables, accept=GRAPHQL_RESPONSE_JSON)
    # What a fuzzer or curl sends.
    anything = await viewer.post(document, variables, accept="*/*")
    legacy = await viewer.post(document, variables, accept=APPLICATION_JSON)

    for response in (modern, anything):
        assert response.status_code == 400
        assert media_type(response) == GRAPHQL_RESPONSE_JSON
        error = only_error(response)
        assert says in error["message"]
        assert error["extensions"] == {"code": code}
    # application/json keeps "200 for every well-formed request"; still no data: nothing ran.
    assert legacy.status_code == 200
    assert media_type(legacy) == APPLICATION_JSON
    assert only_error(legacy) == only_error(modern)


async def test_a_body_that_is_not_graphql_is_a_400_with_a_json_error(tenant: TenantApi):
    viewer = await tenant.as_(Role.VIEWER)

    not_json = await viewer.http.post(
        "/graphql", content=b"{query: nope", headers={**viewer.headers(), "content-type": "application/json"}
    )
    no_query = await viewer.http.post("/graphql", json={"variables": {}}, headers=viewer.headers())

    for response, says in ((not_json, "the request body is not valid JSON"), (no_query, "No GraphQL query")):
        assert response.status_code == 400
        assert media_type(response) == GRAPHQL_RESPONSE_JSON
        error = only_error(response)
        assert says in error["message"]
        assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_a_field_error_keeps_200_and_the_data_that_resolved(tenant: TenantApi):
    viewer = await tenant.as_(Role.VIEWER)

    response = await viewer.post('{ viewer { role } jobs(after: "bogus") { totalCount } }')

    # A field error is not a request error: 200, and `data` is there (null, as `jobs` is non-null).
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert (error["path"], error["extensions"]) == (
        ["jobs"], {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "after"}
    )


# ---------------------------------------------------------------- refusals of a query


async def test_a_querys_refusal_carries_the_code_generic_clients_read_and_ours_beside_it(
    tenant: TenantApi, make_tenant
):
    operator = await tenant.as_(Role.OPERATOR)
    job = await start(operator.actor)
    other_tenant = (await make_tenant()).tenant
    elsewhere = gid("Tenant", other_tenant.id)

    async def refusal(document: str, variables: dict | None = None) -> tuple[str, list, dict]:
        response = await operator.post(document, variables)
        # Executed, with a field error: 200, and never a server error.
        assert response.status_code == 200, response.text
        [error] = response.json()["errors"]
        return error["message"], error["path"], error["extensions"]

    assert await refusal("query J($t: ID!) { jobs(filter: {tenantId: $t}) { totalCount } }", {"t": elsewhere}) == (
        f"tenant {other_tenant.id} not found", ["jobs"], {"code": "NOT_FOUND", "jobtowerCode": "NOT_FOUND"}
    )
    assert await refusal("{ jobs(filter: {includeSystem: true}) { totalCount } }") == (
        "listing system jobs (includeSystem) needs the ADMIN role", ["jobs"], {"code": "FORBIDDEN", "jobtowerCode": "FORBIDDEN"}
    )
    # An id that cannot name a tenant is a bad argument, and still reads as not found.
    assert await refusal('{ jobs(filter: {tenantId: "no-such-id"}) { totalCount } }') == (
        "tenant no-such-id not found", ["jobs"], {"code": "BAD_USER_INPUT", "jobtowerCode": "NOT_FOUND"}
    )
    assert await refusal(
        'query J($id: ID!) { job(id: $id) { records(after: "bogus") { totalCount } } }', {"id": gid("Job", job.id)}
    ) == (
        "after: is not a cursor from this list",
        ["job", "records"],
        {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "after"},
    )
    assert await refusal("query S($s: String) { jobs(filter: {search: $s}) { totalCount } }", {"s": "x" * 201}) == (
        "search: must be at most 200 characters",
        ["jobs"],
        {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "search"},
    )


async def test_a_mutations_refusal_is_a_member_of_its_union_not_an_error(tenant: TenantApi):
    operator = await tenant.as_(Role.OPERATOR)
    job = await start(operator.actor)

    response = await operator.post(
        "mutation M($id: ID!) {"
        " resume: resumeJob(id: $id) { __typename ... on Error { code } }"
        ' malformed: stopJob(id: "no-such-id") { __typename ... on Error { code } }'
        ' unknown: startJob(input: {type: "no.such.type"}) { __typename ... on Error { code } }'
        ' badInput: startJob(input: {type: "test.plain", chunkSize: 0}) { __typename ... on InvalidInputError { code field } }'
        "}",
        {"id": gid("Job", job.id)},
    )

    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "resume": {"__typename": "InvalidTransitionError", "code": "INVALID_TRANSITION"},
            "malformed": {"__typename": "NotFoundError", "code": "NOT_FOUND"},
            "unknown": {"__typename": "UnknownJobTypeError", "code": "UNKNOWN_JOB_TYPE"},
            "badInput": {"__typename": "InvalidInputError", "code": "INVALID_INPUT", "field": "chunkSize"},
        }
    }


async def test_a_subscriptions_refusals_carry_their_codes_too(tenant: TenantApi, served_api: ServedApi):
    viewer = await tenant.as_(Role.VIEWER)
    job = await start((await tenant.as_(Role.OPERATOR)).actor)
    updates = "subscription U($id: ID!, $after: Int) { jobUpdated(id: $id, afterSeq: $after) { seq } }"

    async with graphql_ws(ws_url(served_api.url), viewer.token) as ws:
        missing = await ws.subscribe(updates, {"id": gid("Job", job.id + 1_000_000)})
        too_far = await ws.subscribe(updates, {"id": gid("Job", job.id), "after": 99})
        invalid = await ws.subscribe("subscription { jobUpdated(id: 1) { shoeSize } }")
        refused, beyond, not_valid = (await missing.message(), await too_far.message(), await invalid.message())

    assert refused["type"] == "next"
    [error] = refused["payload"]["errors"]
    assert error["extensions"] == {"code": "NOT_FOUND", "jobtowerCode": "NOT_FOUND"}
    [error] = beyond["payload"]["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "afterSeq"}
    assert not_valid["type"] == "error"
    assert [error["extensions"] for error in not_valid["payload"]] == [{"code": "GRAPHQL_VALIDATION_FAILED"}]


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer jt_not-a-token", "Basic dXNlcjpwYXNz", "Bearer"],
    ids=["missing", "unknown-token", "other-scheme", "empty"],
)
async def test_a_request_without_a_valid_token_is_a_json_401(served_http: httpx.AsyncClient, database, authorization):
    headers = {"accept": GRAPHQL_RESPONSE_JSON}
    if authorization is not None:
        headers["authorization"] = authorization

    over_post = await served_http.post("/graphql", json={"query": VIEWER_QUERY}, headers=headers)
    over_get = await served_http.get("/graphql", params={"query": VIEWER_QUERY}, headers=headers)

    for response in (over_post, over_get):
        assert response.status_code == 401
        assert media_type(response) == GRAPHQL_RESPONSE_JSON
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == {
            "errors": [{"message": "a valid API token is required", "extensions": {"code": "UNAUTHENTICATED"}}]
        }


async def test_a_revoked_token_is_refused(tenant: TenantApi):
    from domain.models import ApiToken

    viewer = await tenant.as_(Role.VIEWER)
    assert (await viewer.get(VIEWER_QUERY)).status_code == 200

    await ApiToken.filter(principal_id=viewer.principal.id).update(revoked_at=utcnow())

    assert (await viewer.get(VIEWER_QUERY)).status_code == 401


# ---------------------------------------------------------------- sizes and shapes


async def test_a_body_over_64_kib_is_refused_with_413(tenant: TenantApi):
    viewer = await tenant.as_(Role.VIEWER)
    limit = 64 * 1024
    # A comment pads the document without adding tokens.
    padded = lambda size: {"query": "#" + "x" * size + "\n" + VIEWER_QUERY}  # noqa: E731

    just_under = await viewer.http.post("/graphql", content=json.dumps(padded(limit - 200)), headers=json_headers(viewer))
    declared_over = await viewer.http.post("/graphql", content=json.dumps(padded(limit)), headers=json_headers(viewer))

    async def chunks():
        body = json.dumps(padded(4 * limit)).encode()
        for start_at in range(0, len(body), 8192):
            yield body[start_at : start_at + 8192]

    chunked_over = await viewer.http.post("/graphql", content=chunks(), headers=json_headers(viewer))

    assert just_under.status_code == 200
    assert just_under.json()["data"]["viewer"]["role"] == "VIEWER"
    assert "content-length" not in chunked_over.request.headers  # sent as chunks, size unknown up front
    for response in (declared_over, chunked_over):
        assert response.status_code == 413
        assert media_type(response) == GRAPHQL_RESPONSE_JSON
        assert response.json() == {
            "errors": [
                {
                    "message": f"the request body is larger than {limit} bytes",
                    "extensions": {"code": "REQUEST_TOO_LARGE", "limitBytes": limit},
                }
            ]
        }


def json_headers(api: Api) -> dict[str, str]:
    return {**api.headers(), "content-type": "application/json"}


def nested_parents(depth: int) -> str:
    selection = "id"
    for _ in range(depth):
        selection = f"parent {{ {selection} }}"
    return f'{{ job(id: "x") {{ {selection} }} }}'


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (nested_parents(MAX_DEPTH), f"exceeds maximum operation depth of {MAX_DEPTH}"),
        (
            "{ " + " ".join(f"a{n}: viewer {{ role }}" for n in range(MAX_ALIASES + 1)) + " }",
            f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}",
        ),
        ("{ viewer { " + "role " * 5_000 + "} }", "Document contains more than 5000 tokens"),
        (
            "{ jobs(first: 100) { edges { node { chunks(first: 100) { edges { node {"
            " records(first: 100) { edges { node { key } } } } } } } } } }",
            f"the limit is {MAX_LIST_ITEMS}",
        ),
    ],
    ids=["depth", "aliases", "tokens", "list-size"],
)
async def test_queries_past_the_shape_limits_are_refused_before_running(tenant: TenantApi, document: str, says: str):
    viewer = await tenant.as_(Role.VIEWER)

    response = await viewer.post(document)

    assert response.status_code == 400, response.text
    assert says in only_error(response)["message"]


async def test_the_consoles_main_query_fits_the_list_size_limit(tenant: TenantApi):
    viewer = await tenant.as_(Role.VIEWER)

    response = await viewer.post(
        "query Console($jobs: Int!, $chunks: Int!, $records: Int!) { jobs(first: $jobs) { edges { node {"
        " chunks(first: $chunks) { edges { node { records(first: $records) { edges { node { key status } } } } } }"
        " } } } }",
        {"jobs": 50, "chunks": 10, "records": 20},
    )
    too_big = await viewer.post(
        "query Console($jobs: Int!, $chunks: Int!, $records: Int!) { jobs(first: $jobs) { edges { node {"
        " chunks(first: $chunks) { edges { node { records(first: $records) { edges { node { key } } } } } } } } } }",
        {"jobs": 100, "chunks": 100, "records": 100},
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"jobs": {"edges": []}}}
    assert too_big.status_code == 400
    assert only_error(too_big)["extensions"] == {
        "code": "GRAPHQL_VALIDATION_FAILED", "jobtowerCode": "QUERY_TOO_LARGE", "items": 1_010_100, "limit": MAX_LIST_ITEMS
    }


# ---------------------------------------------------------------- crashes


async def test_an_unexpected_error_is_masked_for_the_client_and_logged_with_its_stack(
    tenant: TenantApi, served_api: ServedApi
):
    viewer = await tenant.as_(Role.VIEWER)
    job = await start((await tenant.as_(Role.OPERATOR)).actor)
    await Job.filter(id=job.id).update(status=JobStatus.RUNNING, started_at=utcnow())
    chunk = await Chunk.create(job_id=job.id, index=0, status=ChunkStatus.RUNNING, range_start=0, range_end=1, cursor=1)
    # A journey no release of Jobtower writes: reading it fails in a way no check anticipates.
    await Record.create(
        job_id=job.id, partition_id=job.partition_id, chunk_id=chunk.id, position=0, key="r0",
        status=RecordStatus.SUCCEEDED,
        started_at=utcnow(), journey=[[0, "EXPLODED", 0, 5]],
    )

    response = await viewer.post(
        "query Tree($id: ID!) { job(id: $id) { name records { edges { node { journey { name } } } } } }",
        {"id": gid("Job", job.id)},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"job": None}
    [error] = body["errors"]
    request_id = error["extensions"]["requestId"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["message"] == f"internal error (request {request_id})"
    assert "EXPLODED" not in response.text and "Traceback" not in response.text
    log = await wait_for_log(served_api, f"request {request_id} failed")
    entry = log[log.index(f"request {request_id} failed") :]
    assert "Traceback (most recent call last)" in entry
    assert "ValueError: 'EXPLODED' is not a valid StepStatus" in entry


async def wait_for_log(served_api: ServedApi, text: str) -> str:
    from tests.cluster import wait_until

    async def logged() -> str | None:
        log = served_api.server_log()
        return log if text in log else None

    return await wait_until(logged, timeout=10, what=f"{text!r} in the server log")


# ---------------------------------------------------------------- WebSocket origins


async def test_websockets_from_other_origins_are_refused_unless_allowed(
    tenant: TenantApi, served_api: ServedApi
):
    viewer = await tenant.as_(Role.VIEWER)
    url = f"ws://127.0.0.1:{served_api.port}/graphql"

    async def handshake(origin: str | None) -> str:
        """``ack`` when the server accepted the socket and the token, else the HTTP status."""
        try:
            async with connect(url, origin=origin, subprotocols=["graphql-transport-ws"], open_timeout=10) as socket:
                await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {viewer.token}"}}))
                return json.loads(await socket.recv(decode=True))["type"]
        except InvalidStatus as refused:
            return str(refused.response.status_code)

    assert await handshake(None) == "connection_ack"  # not a browser
    assert await handshake(f"http://127.0.0.1:{served_api.port}") == "connection_ack"  # the API's own pages
    assert await handshake(served_api.allowed_origin) == "connection_ack"
    assert await handshake("https://evil.example") == "403"
    assert await handshake(f"http://127.0.0.1:{served_api.port + 1}") == "403"

