"""What careless and hostile clients send to ``/graphql``, against ``jobtower api`` in its own
process: bodies that are JSON but not a request, dates past the calendar's ends, subscriptions
over HTTP. Each is a typed refusal that names the problem, and nothing runs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx
import pytest

from domain.access import Role
from tests.cluster import wait_until
from tests.gql.conftest import READ_SECONDS, ServedApi
from tests.gql.support import GRAPHQL_RESPONSE_JSON, Api, TenantApi


@pytest.fixture
async def viewer(served_http: httpx.AsyncClient, make_tenant) -> Api:
    return await TenantApi(served_http, (await make_tenant()).tenant).as_(Role.VIEWER)


def only_error(response: httpx.Response) -> dict:
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    return error


async def post_raw(api: Api, body: bytes) -> httpx.Response:
    return await api.http.post("/graphql", content=body, headers={**api.headers(), "content-type": "application/json"})


DEEP = 5_000
HUGE_INTEGER = "9" * 5_000


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"123", "must be a JSON object"),
        (b'"x"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"true", "must be a JSON object"),
        (b"[]", "must be a JSON object"),
        (b"[" * DEEP + b"]" * DEEP, "nested deeper than 64 levels"),
        (
            b'{"query": "{ viewer { role } }", "variables": {"x": ' + b"[" * DEEP + b"]" * DEEP + b"}}",
            "nested deeper than 64 levels",
        ),
        (b'{"query": "{ viewer { role } }", "variables": {"n": ' + HUGE_INTEGER.encode() + b"}}", "more than"),
    ],
    ids=["number", "string", "null", "true", "list", "deep-list", "deep-variables", "huge-integer"],
)
async def test_a_json_body_that_is_not_a_request_object_is_a_typed_400(viewer: Api, body: bytes, says: str):
    response = await post_raw(viewer, body)

    assert response.status_code == 400, response.text
    error = only_error(response)
    assert says in error["message"]
    assert error["extensions"] == {"code": "BAD_REQUEST", "jobtowerCode": "INVALID_INPUT"}


@pytest.mark.parametrize(
    ("parameter", "value", "says"),
    [
        ("variables", "[" * DEEP + "]" * DEEP, "nested deeper than 64 levels"),
        ("extensions", '{"a":' * 2_000 + "1" + "}" * 2_000, "nested deeper than 64 levels"),
        ("variables", '{"n": ' + HUGE_INTEGER + "}", "more than"),
    ],
    ids=["deep-variables", "deep-extensions", "huge-integer"],
)
async def test_get_parameters_that_are_hostile_json_are_a_typed_400(viewer: Api, parameter: str, value: str, says: str):
    response = await viewer.http.get(
        "/graphql", params={"query": "{ viewer { role } }", parameter: value}, headers=viewer.headers()
    )

    assert response.status_code == 400, response.text
    error = only_error(response)
    assert says in error["message"]
    assert error["extensions"] == {"code": "BAD_REQUEST", "jobtowerCode": "INVALID_INPUT"}


async def test_a_document_nested_thousands_of_levels_deep_is_refused_not_crashed(viewer: Api):
    nested = "[" * 2_000 + "]" * 2_000

    response = await viewer.post(f"{{ jobs(filter: {{status: {nested}}}) {{ totalCount }} }}")

    assert response.status_code == 400, response.text
    assert only_error(response)["extensions"]["code"] in ("GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED")


STATISTICS = "query S($from: DateTime!, $to: DateTime!) { jobStatistics(from: $from, to: $to, bucket: DAY) { buckets { start } } }"
CREATED_AFTER = "query J($at: DateTime!) { jobs(filter: {createdAfter: $at}) { totalCount } }"


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (STATISTICS, {"from": "0001-01-01T00:00:00+01:00", "to": "0001-01-05T00:00:00Z"}),
        (STATISTICS, {"from": "9998-12-30T00:00:00Z", "to": "9999-12-31T23:59:59-01:00"}),
        (CREATED_AFTER, {"at": "0001-01-01T00:00:00+14:00"}),
        (CREATED_AFTER, {"at": "9999-12-31T23:59:59.999999-14:00"}),
    ],
    ids=["statistics-from-before-year-1", "statistics-to-after-year-9999", "filter-before-year-1", "filter-after-9999"],
)
async def test_a_date_past_the_ends_of_the_calendar_is_bad_user_input(viewer: Api, document: str, variables: dict):
    response = await viewer.post(document, variables)

    assert response.status_code == 400, response.text
    error = only_error(response)
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "DateTime must be between 0001-01-02T00:00:00Z and 9998-12-31T23:59:59Z" in error["message"]


async def test_a_date_literal_past_the_ends_of_the_calendar_is_refused_before_running(viewer: Api):
    response = await viewer.post(
        '{ jobStatistics(from: "0001-01-01T00:00:00+01:00", to: "2026-01-01T00:00:00Z", bucket: DAY) { buckets { start } } }'
    )

    assert response.status_code == 400, response.text
    error = only_error(response)
    # A literal the scalar refuses fails validation, as any other malformed literal does.
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "DateTime must be between" in error["message"]


async def test_dates_inside_the_range_still_work(viewer: Api):
    data = await viewer.data(
        STATISTICS, {"from": "0001-01-02T00:00:00Z", "to": "0001-01-04T00:00:00Z"}
    )
    assert [bucket["start"] for bucket in data["jobStatistics"]["buckets"]] == [
        "0001-01-02T00:00:00+00:00", "0001-01-03T00:00:00+00:00"
    ]


SUBSCRIPTION = "subscription { liveOps { workersOnline } }"


async def test_a_subscription_over_http_is_told_to_use_the_websocket(viewer: Api):
    over_post = await viewer.post(SUBSCRIPTION)
    over_get = await viewer.get(SUBSCRIPTION)

    for response in (over_post, over_get):
        assert response.status_code == 400, response.text
        error = only_error(response)
        assert error["message"] == (
            "subscriptions run over the WebSocket at /graphql (subprotocol graphql-transport-ws), not over HTTP"
        )
        assert error["extensions"] == {"code": "BAD_REQUEST", "jobtowerCode": "SUBSCRIPTION_NEEDS_WEBSOCKET"}


async def test_api_answers_are_neither_sniffed_nor_cached_and_name_no_server(viewer: Api):
    answered = await viewer.post("{ viewer { role } }")
    refused = await viewer.http.post("/graphql", json={"query": "{ viewer { role } }"}, headers={"accept": GRAPHQL_RESPONSE_JSON})

    for response in (answered, refused):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "server" not in response.headers


async def test_metrics_are_off_without_a_metrics_token(served_http: httpx.AsyncClient):
    response = await served_http.get("/metrics")

    assert response.status_code == 404
    assert response.json() == {
        "errors": [
            {"message": "metrics are off: set JOBTOWER_METRICS_TOKEN to serve them", "extensions": {"code": "NOT_FOUND"}}
        ]
    }


# ---------------------------------------------------------------- the request head, byte by byte


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool

    def json(self) -> dict:
        return json.loads(self.body)


async def raw_exchange(served_api: ServedApi, *parts: bytes, timeout: float = READ_SECONDS + 10) -> RawAnswer:
    """Sends ``parts`` on one connection as they are (no client would) and reads the answer
    until the server closes; ``closed`` says it did."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served_api.port)
    try:
        for part in parts:
            writer.write(part)
            try:
                await writer.drain()
            except ConnectionError:  # refused midway: the answer is already there
                break
        received = b""
        closed = False
        try:
            async with asyncio.timeout(timeout):
                while chunk := await reader.read(65536):
                    received += chunk
            closed = True
        except TimeoutError:
            pass
        except ConnectionError:
            closed = True
    finally:
        writer.close()
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines if ": " in line)
    return RawAnswer(int(status_line.split()[1]), headers, body, closed)


def request_head(target: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {target} HTTP/1.1", "host: jobtower.test", *headers, "", ""]).encode()


async def test_a_url_over_the_limit_is_a_json_414(served_api: ServedApi):
    limit = 64 * 1024
    for length in (limit + 100, 4 * limit):
        answer = await raw_exchange(served_api, request_head("/graphql?query=" + "x" * length))

        assert answer.status == 414, answer
        assert answer.json() == {
            "errors": [
                {"message": f"the URL is longer than {limit} bytes", "extensions": {"code": "REQUEST_TOO_LARGE", "limitBytes": limit}}
            ]
        }


@pytest.mark.parametrize(
    "headers",
    [
        # Within what the server buffers of a head, past the headers' own limit.
        [f"x-padding-{n}: {'p' * 10_000}" for n in range(8)],
        [f"x-padding: {'p' * 8_000_000}"],
    ],
    ids=["80-kib", "8-mb"],
)
async def test_headers_over_64_kib_are_refused_with_431_before_the_token_is_checked(served_api: ServedApi, headers):
    limit = 64 * 1024

    answer = await raw_exchange(served_api, request_head("/graphql?query=%7Bviewer%7Brole%7D%7D", *headers))

    assert answer.status == 431, answer
    assert answer.json() == {
        "errors": [
            {
                "message": f"the request headers are larger than {limit} bytes",
                "extensions": {"code": "REQUEST_TOO_LARGE", "limitBytes": limit},
            }
        ]
    }


async def test_a_connection_whose_head_or_body_never_ends_is_answered_408_and_closed(
    served_api: ServedApi, viewer: Api
):
    never_ending_head = request_head("/graphql?query=%7Bviewer%7Brole%7D%7D", "x-slow: 1")[:-4]
    never_ending_body = (
        b"POST /graphql HTTP/1.1\r\nhost: jobtower.test\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {viewer.token}\r\n".encode()
        + b"content-length: 1000\r\n\r\n" + b'{"query": "'
    )

    for sent in (never_ending_head, never_ending_body):
        started = asyncio.get_running_loop().time()
        answer = await raw_exchange(served_api, sent)
        waited = asyncio.get_running_loop().time() - started

        assert answer.closed
        assert answer.status == 408, answer
        assert answer.json()["errors"][0]["extensions"] == {"code": "REQUEST_TIMEOUT"}
        assert READ_SECONDS - 0.5 <= waited < READ_SECONDS + 5


async def test_a_connection_that_sends_nothing_is_closed_and_one_kept_alive_is_not_cut_short(
    served_api: ServedApi, viewer: Api
):
    silent = await raw_exchange(served_api)
    assert (silent.status, silent.closed) == (408, True)

    # Two requests on one connection, the second after a pause: no deadline left over from the first.
    async with httpx.AsyncClient(base_url=served_api.url, timeout=30) as client:
        assert (await client.post("/graphql", json={"query": "{ viewer { role } }"}, headers=viewer.headers())).status_code == 200
        # The pause is what is tested: past the read deadline, within uvicorn's keep-alive (5 s).
        await asyncio.sleep(READ_SECONDS + 0.5)
        again = await client.post("/graphql", json={"query": "{ viewer { role } }"}, headers=viewer.headers())
        assert again.status_code == 200
        assert again.json() == {"data": {"viewer": {"role": "VIEWER"}}}


async def test_a_client_that_goes_away_mid_body_is_logged_as_such_not_as_a_server_error(
    served_api: ServedApi, viewer: Api
):
    logged_before = len(served_api.server_log())
    reader, writer = await asyncio.open_connection("127.0.0.1", served_api.port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nhost: jobtower.test\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {viewer.token}\r\n".encode()
        + b"content-length: 1000\r\n\r\n" + b'{"query": "'
    )
    await writer.drain()
    writer.close()  # 989 bytes short
    await writer.wait_closed()

    def logged() -> str:
        return served_api.server_log()[logged_before:]

    async def noticed() -> bool:
        return "went away" in logged() or "Traceback" in logged()

    await wait_until(noticed, timeout=READ_SECONDS + 10, what="the API to notice that the client went away")
    assert "Traceback" not in logged() and " ERROR " not in logged(), logged()
    [line] = [line for line in logged().splitlines() if "went away" in line]
    assert " INFO " in line, line
