"""One client, even a VIEWER, cannot make another tenant wait: what one query may return, how
many requests a principal may have in flight or send a minute, and what one tenant may start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from domain.access import Role, hash_token
from domain.clock import utcnow
from domain.models import Job
from domain.registry import registry
from domain.usage import ceilings
from gql.schema import MAX_LIST_ITEMS
from jobtower.job_types import noop  # noqa: F401 - registers noop, whose records are unbounded by its schema
from tests.cli import clean_environment
from tests.cluster import api_process, wait_until
from tests.gql.conftest import serving_api
from tests.gql.support import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, TenantApi
from tests.gql.test_mutations import START_RESULT, refusal, tenant_state
from workers import keys

# 100 jobs × 100 records is 10,100 items; with their journeys of up to 20 steps (noop's), 200,000 more.
JOURNEYS = (
    "{ jobs(first: 100) { edges { node { records(first: 100) { edges { node {"
    " key journey { name status startedAt endedAt durationSeconds detail error } } } } } } } }"
)


# ---------------------------------------------------------------- what one query may return


async def test_a_query_counts_the_steps_of_the_journeys_it_asks_for(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    aliased = "{ " + " ".join(f"a{n}: " + JOURNEYS[2:-2] for n in range(4)) + " }"

    for document in (JOURNEYS, aliased):
        response = await viewer.post(document)

        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert error["extensions"]["jobtowerCode"] == "QUERY_TOO_LARGE"
        assert error["extensions"]["items"] > MAX_LIST_ITEMS


async def test_the_journeys_of_one_page_of_records_fit(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)

    response = await viewer.post(JOURNEYS.replace("jobs(first: 100)", "jobs(first: 1)"))

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"jobs": {"edges": []}}}


def test_every_list_without_a_page_has_a_size_the_cost_counts():
    from graphql import GraphQLList, GraphQLObjectType, get_nullable_type

    from gql.complexity import EDGES, LIST_SIZES, PAGE_ARGUMENT
    from gql.schema import schema

    unbounded = [
        (name, field_name)
        for name, kind in schema._schema.type_map.items()
        if isinstance(kind, GraphQLObjectType) and not name.startswith("__")
        for field_name, field in kind.fields.items()
        if isinstance(get_nullable_type(field.type), GraphQLList)
        and PAGE_ARGUMENT not in field.args
        and field_name != EDGES
        and (name, field_name) not in LIST_SIZES
    ]

    assert unbounded == []
    assert LIST_SIZES["Record", "journey"]() == max(len(job_type.steps) for job_type in registry.all())


# ---------------------------------------------------------------- how large an answer may be

LIMITED_RESPONSE_BYTES = 4_096


def job_types(times: int) -> str:
    """The job types and their steps, ``times`` over (aliases)."""
    return "{ " + " ".join(f"a{n}: jobTypes {{ name steps {{ name }} }}" for n in range(times)) + " }"


@pytest.fixture(scope="module")
def small_answers_url(
    database: str, request: pytest.FixtureRequest, redis_url: str, graphql_execution: str, tmp_path_factory
) -> Iterator[str]:
    """``jobtower api`` that sends responses of at most ``LIMITED_RESPONSE_BYTES``."""
    log = tmp_path_factory.mktemp("small-answers-api") / "api.log"
    with serving_api(
        request.getfixturevalue(f"{database}_url"), redis_url, graphql_execution, log,
        max_response_bytes=LIMITED_RESPONSE_BYTES,
    ) as served:
        yield served.url


@pytest.fixture
async def small_answers(small_answers_url: str, make_tenant) -> AsyncIterator[TenantApi]:
    async with httpx.AsyncClient(base_url=small_answers_url, timeout=30) as client:
        yield TenantApi(client, (await make_tenant()).tenant)


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE_JSON, 400), (APPLICATION_JSON, 200)])
async def test_an_answer_past_the_response_limit_is_a_typed_error_not_a_truncated_body(
    small_answers: TenantApi, accept: str, status: int
):
    viewer = await small_answers.as_(Role.VIEWER)
    whole = await viewer.post(job_types(1), accept=accept)
    many = 1 + LIMITED_RESPONSE_BYTES // len(whole.content)

    response = await viewer.post(job_types(many), accept=accept)

    assert whole.status_code == 200 and "errors" not in whole.json(), whole.text
    assert len(whole.content) < LIMITED_RESPONSE_BYTES
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(accept)
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_REQUEST", "jobtowerCode": "RESPONSE_TOO_LARGE", "limitBytes": LIMITED_RESPONSE_BYTES
    }
    assert str(LIMITED_RESPONSE_BYTES) in error["message"]


# ---------------------------------------------------------------- requests per principal

LIMITED_CONCURRENCY = 1
LIMITED_PER_MINUTE = 5
# All of one tenant's tokens together.
TENANT_CONCURRENCY = 2
TENANT_PER_MINUTE = 8


@pytest.fixture(scope="module")
def limited_url(database: str, request: pytest.FixtureRequest, redis_url: str, tmp_path_factory) -> Iterator[str]:
    """``jobtower api`` with small per-principal and per-tenant limits."""
    env = clean_environment() | {
        "DATABASE_URL": request.getfixturevalue(f"{database}_url"),
        "REDIS_URL": redis_url,
        "JOBTOWER_JOB_TYPES": json.dumps(["tests.job_types"]),
        "JOBTOWER_MAX_CONCURRENT_REQUESTS": str(LIMITED_CONCURRENCY),
        "JOBTOWER_MAX_REQUESTS_PER_MINUTE": str(LIMITED_PER_MINUTE),
        "JOBTOWER_MAX_TENANT_CONCURRENT_REQUESTS": str(TENANT_CONCURRENCY),
        "JOBTOWER_MAX_TENANT_REQUESTS_PER_MINUTE": str(TENANT_PER_MINUTE),
        "PYTHONUNBUFFERED": "1",
    }
    with api_process(env, tmp_path_factory.mktemp("limited-api") / "api.log") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def limited(limited_url: str, make_tenant, redis) -> AsyncIterator[TenantApi]:
    async with httpx.AsyncClient(base_url=limited_url, timeout=30) as client:
        yield TenantApi(client, await uncounted_tenant(make_tenant, redis))


async def uncounted_tenant(make_tenant, redis):
    """A new tenant whose id the other backend's tenants may have had: its counts start at zero
    in the Redis both backends' tests share."""
    tenant = (await make_tenant()).tenant
    await redis.delete(keys.tenant_requests_in_flight(tenant.id), keys.tenant_requests_this_minute(tenant.id))
    return tenant


def assert_rate_limited(response: httpx.Response, limit: int, scope: str = "TOKEN") -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["jobtowerCode"] == "RATE_LIMITED"
    assert error["extensions"]["limit"] == limit
    assert error["extensions"]["scope"] == scope
    assert error["extensions"]["retryAfterSeconds"] == int(response.headers["retry-after"])


async def test_a_principal_past_its_requests_per_minute_waits_and_others_do_not(limited: TenantApi):
    viewer = await limited.as_(Role.VIEWER)
    operator = await limited.as_(Role.OPERATOR)

    answers = [await viewer.post("{ viewer { name } }") for _ in range(LIMITED_PER_MINUTE)]
    refused = await viewer.post("{ viewer { name } }")
    other = await operator.post("{ viewer { name } }")

    assert [answer.status_code for answer in answers] == [200] * LIMITED_PER_MINUTE
    assert_rate_limited(refused, LIMITED_PER_MINUTE)
    assert other.status_code == 200


async def test_a_principal_with_a_request_in_flight_past_its_concurrency_is_refused_until_it_ends(
    limited: TenantApi, redis
):
    viewer = await limited.as_(Role.VIEWER)
    other = await limited.as_(Role.OPERATOR)
    body_may_end = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"query": "{ viewer '
        await body_may_end.wait()
        yield b'{ name } }"}'

    held = asyncio.create_task(
        viewer.http.post(
            "/graphql", content=slow_body(), headers={**viewer.headers(), "content-type": "application/json"}
        )
    )
    try:
        # The held request counts once its headers have arrived.
        in_flight = keys.requests_in_flight(hash_token(viewer.token))
        await wait_until(lambda: redis.zcard(in_flight), timeout=10, what="the held request to count")
        refused = await viewer.post("{ viewer { name } }")
        others = await other.post("{ viewer { name } }")
    finally:
        body_may_end.set()
    first = await held
    after = await viewer.post("{ viewer { name } }")

    assert_rate_limited(refused, LIMITED_CONCURRENCY)
    assert others.status_code == 200
    assert first.status_code == 200, first.text
    assert first.json() == {"data": {"viewer": {"name": "viewer of " + limited.tenant.slug}}}
    assert after.status_code == 200


async def test_a_tenants_tokens_together_stay_under_its_ceiling_and_other_tenants_do_not_notice(
    limited: TenantApi, make_tenant, redis
):
    first, second = await limited.as_(Role.VIEWER), await limited.as_(Role.OPERATOR)
    elsewhere = await TenantApi(limited.http, await uncounted_tenant(make_tenant, redis)).as_(Role.VIEWER)

    answers = [await first.post("{ viewer { name } }") for _ in range(LIMITED_PER_MINUTE)]
    answers += [await second.post("{ viewer { name } }") for _ in range(TENANT_PER_MINUTE - LIMITED_PER_MINUTE)]
    refused = await second.post("{ viewer { name } }")  # under its own limit, past its tenant's
    other = await elsewhere.post("{ viewer { name } }")

    assert [answer.status_code for answer in answers] == [200] * TENANT_PER_MINUTE
    assert_rate_limited(refused, TENANT_PER_MINUTE, scope="TENANT")
    assert "from this tenant's tokens together" in refused.json()["errors"][0]["message"]
    assert other.status_code == 200


async def test_a_tenants_tokens_together_hold_only_so_many_requests_in_flight(limited: TenantApi, redis):
    tokens = [await limited.as_(role) for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)]
    bodies_may_end = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"query": "{ viewer '
        await bodies_may_end.wait()
        yield b'{ name } }"}'

    held = [
        asyncio.create_task(
            api.http.post("/graphql", content=slow_body(), headers={**api.headers(), "content-type": "application/json"})
        )
        for api in tokens[:TENANT_CONCURRENCY]
    ]
    try:
        in_flight = keys.tenant_requests_in_flight(limited.tenant.id)

        async def all_held() -> bool:
            return await redis.zcard(in_flight) == TENANT_CONCURRENCY

        await wait_until(all_held, timeout=10, what="the held requests to count")
        refused = await tokens[-1].post("{ viewer { name } }")
    finally:
        bodies_may_end.set()
    answered = [await request for request in held]
    after = await tokens[-1].post("{ viewer { name } }")

    assert_rate_limited(refused, TENANT_CONCURRENCY, scope="TENANT")
    assert [answer.status_code for answer in answered] == [200] * TENANT_CONCURRENCY
    assert after.status_code == 200


# ---------------------------------------------------------------- what one tenant may start


async def start(api, **input) -> dict:
    data = await api.data(
        f"mutation Start($input: StartJobInput!) {{ result: startJob(input: $input) {{ {START_RESULT} }} }}",
        {"input": input},
    )
    return data["result"]


async def test_a_tenant_without_limits_cannot_start_a_job_past_the_platforms_records_per_job(
    tenant_api,
):
    tenant = await tenant_api()
    operator = await tenant.as_(Role.OPERATOR)
    state = await tenant_state(tenant)

    result = await start(operator, type="noop", params={"records": 100_000_000})

    refusal(
        result,
        "PlanLimitError",
        "PLAN_LIMIT",
        resource="recordsPerJob",
        limit=ceilings.records_per_job,
        used=0,
        requested=100_000_000,
    )
    assert await tenant_state(tenant) == state


async def test_a_tenant_past_its_jobs_per_minute_is_refused_and_another_tenant_is_not(
    tenant_api, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ceilings, "jobs_per_minute", 3)
    busy, other = await tenant_api(), await tenant_api()
    operator = await busy.as_(Role.OPERATOR)
    minute = utcnow().replace(second=0, microsecond=0)
    started = [await start(operator, type="test.plain") for _ in range(3)]
    state = await tenant_state(busy)

    refused = await start(operator, type="test.plain")
    elsewhere = await start(await other.as_(Role.OPERATOR), type="test.plain")

    if utcnow().replace(second=0, microsecond=0) != minute:
        pytest.skip("a new clock minute, a new window, began between the starts")
    assert [result["__typename"] for result in started] == ["JobStarted"] * 3
    refusal(refused, "PlanLimitError", "PLAN_LIMIT", resource="jobsPerMinute", limit=3, used=3, requested=1)
    assert await tenant_state(busy) == state
    assert elsewhere["__typename"] == "JobStarted"
    assert await Job.filter(tenant_id=busy.tenant.id).count() == 3
