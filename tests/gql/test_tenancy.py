"""Managing a tenant over the API: its API tokens, its monthly limits and its Sync Sizes, and the
job types described for the screens that start jobs."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import httpx
import pytest

import jobtower.demo  # noqa: F401  (registers the demo catalogue, as `jobtower serve` does)
from domain.access import Role
from domain.models import ApiToken, Tenant
from domain.schedules import create_schedule
from tests.gql.conftest import ServedApi
from tests.gql.support import Api, TenantApi, counting_statements, gid
from tests.gql.ws import Rejected, graphql_ws, ws_url

ERRORS = """
  ... on Error { code message }
  ... on ForbiddenError { neededRole }
"""
INVALID = "... on InvalidInputError { field }"
TOKEN = "id name role prefix createdAt lastUsedAt revokedAt"
CREATE_TOKEN = f"""
mutation($input: CreateApiTokenInput!) {{
  result: createApiToken(input: $input) {{ __typename ... on ApiTokenCreated {{ token apiToken {{ {TOKEN} }} }} {ERRORS} {INVALID} }}
}}"""
REVOKE_TOKEN = f"""
mutation($id: ID!) {{
  result: revokeApiToken(id: $id) {{ __typename ... on ApiTokenRevoked {{ apiToken {{ {TOKEN} }} }} {ERRORS} }}
}}"""
TOKENS = f"""
query($first: Int, $after: String, $tenantId: ID) {{
  apiTokens(first: $first, after: $after, tenantId: $tenantId) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {TOKEN} }} }}
  }}
}}"""
SET_LIMITS = f"""
mutation($input: SetTenantLimitsInput!) {{
  result: setTenantLimits(input: $input) {{
    __typename ... on TenantLimitsSet {{ tenant {{ slug }} usage {{ jobsLimit recordsLimit }} }} {ERRORS} {INVALID}
  }}
}}"""
SET_SYNC_SIZE = f"""
mutation($jobType: String!, $chunkSize: Int, $tenantId: ID) {{
  result: setSyncSize(jobType: $jobType, chunkSize: $chunkSize, tenantId: $tenantId) {{
    __typename ... on SyncSizeSet {{ tenant {{ slug }} jobType chunkSize }} {ERRORS} {INVALID}
    ... on UnknownJobTypeError {{ jobType }}
  }}
}}"""
START_JOB = f"""
mutation($input: StartJobInput!) {{
  result: startJob(input: $input) {{
    __typename ... on JobStarted {{ job {{ id chunkSize }} }} {ERRORS} {INVALID}
    ... on PlanLimitError {{ resource limit used requested }}
  }}
}}"""
SYNC_SIZES = "{ jobTypes { name defaultChunkSize allowedChunkSizes syncSize } }"


async def result(api: Api, mutation: str, variables: dict[str, Any]) -> dict[str, Any]:
    return (await api.data(mutation, variables))["result"]


def refused(answer: dict[str, Any], typename: str, code: str, **details: Any) -> None:
    assert answer["__typename"] == typename, answer
    assert answer["code"] == code and answer["message"], answer
    for name, value in details.items():
        assert answer[name] == value, (name, answer)


async def stored_tokens(tenant: TenantApi) -> list[tuple[int, Any]]:
    rows = ApiToken.filter(principal__tenant_id=tenant.tenant.id).order_by("id")
    return list(await rows.values_list("id", "revoked_at"))


# ---------------------------------------------------------------- API tokens


@pytest.fixture
async def served_tenant(served_api: ServedApi, served_http: httpx.AsyncClient, tenant_api) -> TenantApi:
    """A fresh tenant whose clients talk to ``jobtower api`` in its own process."""
    return TenantApi(served_http, (await tenant_api()).tenant)


async def test_a_token_created_through_the_api_works_until_it_is_revoked_on_http_and_websocket(
    served_tenant: TenantApi, served_api: ServedApi
):
    admin = await served_tenant.as_(Role.ADMIN)

    created = await result(admin, CREATE_TOKEN, {"input": {"name": "deploy bot", "role": "OPERATOR"}})

    assert created["__typename"] == "ApiTokenCreated", created
    secret, listed_then = created["token"], created["apiToken"]
    assert secret.startswith(listed_then["prefix"]) and len(listed_then["prefix"]) < len(secret)
    assert (listed_then["name"], listed_then["role"], listed_then["lastUsedAt"], listed_then["revokedAt"]) == (
        "deploy bot", "OPERATOR", None, None
    )
    stored = await ApiToken.get(token_hash=hashlib.sha256(secret.encode()).hexdigest())
    assert secret not in (stored.token_hash, stored.display_prefix)

    bot = Api(served_tenant.http, secret)
    assert (await bot.data("{ viewer { role name tenant { slug } } }"))["viewer"] == {
        "role": "OPERATOR", "name": "deploy bot", "tenant": {"slug": served_tenant.tenant.slug}
    }
    async with graphql_ws(ws_url(served_api.url), secret) as ws:
        operation = await ws.subscribe("{ viewer { role } }")
        assert await operation.data() == {"viewer": {"role": "OPERATOR"}}

    tokens = (await admin.data(TOKENS))["apiTokens"]
    [shown] = [edge["node"] for edge in tokens["edges"] if edge["node"]["id"] == listed_then["id"]]
    assert shown["prefix"] == listed_then["prefix"] and "token" not in shown
    assert shown["lastUsedAt"] is not None and shown["revokedAt"] is None

    revoked = await result(admin, REVOKE_TOKEN, {"id": listed_then["id"]})

    assert revoked["__typename"] == "ApiTokenRevoked" and revoked["apiToken"]["revokedAt"] is not None
    refusal = await bot.post("{ viewer { role } }")
    assert refusal.status_code == 401
    assert [error["extensions"]["code"] for error in refusal.json()["errors"]] == ["UNAUTHENTICATED"]
    with pytest.raises(Rejected) as rejected:
        async with graphql_ws(ws_url(served_api.url), secret):
            pass
    assert rejected.value.code == 4403  # graphql-transport-ws: connection_init refused
    assert (await result(admin, REVOKE_TOKEN, {"id": listed_then["id"]}))["apiToken"] == revoked["apiToken"]
    # The admin's own token is untouched.
    assert (await admin.data("{ viewer { role } }"))["viewer"] == {"role": "ADMIN"}


async def test_an_admin_mints_tokens_up_to_its_own_role_and_only_platform_mints_platform_tokens(
    acme_api: TenantApi, tenant_api
):
    admin, operator, platform = [await acme_api.as_(role) for role in (Role.ADMIN, Role.OPERATOR, Role.PLATFORM)]
    globex = await tenant_api()
    before = await stored_tokens(acme_api)

    above = await result(admin, CREATE_TOKEN, {"input": {"name": "root", "role": "PLATFORM"}})
    below_admin = await result(operator, CREATE_TOKEN, {"input": {"name": "mine", "role": "VIEWER"}})

    refused(above, "ForbiddenError", "FORBIDDEN", neededRole="PLATFORM")
    refused(below_admin, "ForbiddenError", "FORBIDDEN", neededRole="ADMIN")
    assert await stored_tokens(acme_api) == before

    for role in ("VIEWER", "OPERATOR", "ADMIN"):
        made = await result(admin, CREATE_TOKEN, {"input": {"name": f"{role} bot", "role": role}})
        assert made["apiToken"]["role"] == role, made
    for_globex = await result(
        platform, CREATE_TOKEN, {"input": {"name": "support", "role": "PLATFORM", "tenantId": globex.id}}
    )
    assert for_globex["apiToken"]["role"] == "PLATFORM"
    assert (await Api(acme_api.http, for_globex["token"]).data("{ viewer { tenant { slug } } }"))["viewer"] == {
        "tenant": {"slug": globex.tenant.slug}
    }


async def test_another_tenants_tokens_answer_as_tokens_that_do_not_exist(acme_api: TenantApi, tenant_api):
    globex = await tenant_api()
    theirs = await result(await globex.as_(Role.ADMIN), CREATE_TOKEN, {"input": {"name": "theirs", "role": "VIEWER"}})
    admin = await acme_api.as_(Role.ADMIN)

    for id in (theirs["apiToken"]["id"], gid("ApiToken", 2**62), gid("Job", 1), "not-an-id"):
        refused(await result(admin, REVOKE_TOKEN, {"id": id}), "NotFoundError", "NOT_FOUND")
    assert await admin.error_codes(TOKENS, {"tenantId": globex.id}) == ["NOT_FOUND"]
    refused(
        await result(admin, CREATE_TOKEN, {"input": {"name": "x", "role": "VIEWER", "tenantId": globex.id}}),
        "NotFoundError",
        "NOT_FOUND",
    )

    assert (await Api(acme_api.http, theirs["token"]).data("{ viewer { role } }"))["viewer"] == {"role": "VIEWER"}
    mine = {edge["node"]["name"] for edge in (await admin.data(TOKENS))["apiTokens"]["edges"]}
    assert "theirs" not in mine
    assert await (await acme_api.as_(Role.OPERATOR)).error_codes(TOKENS) == ["FORBIDDEN"]


@pytest.mark.parametrize(("name", "why"), [("   ", "blank"), ("x" * 201, "200 characters")])
async def test_a_token_name_that_is_blank_or_too_long_is_refused(acme_api: TenantApi, name: str, why: str):
    admin = await acme_api.as_(Role.ADMIN)
    before = await stored_tokens(acme_api)

    answer = await result(admin, CREATE_TOKEN, {"input": {"name": name, "role": "VIEWER"}})

    refused(answer, "InvalidInputError", "INVALID_INPUT", field="name")
    assert why in answer["message"]
    assert await stored_tokens(acme_api) == before


async def test_an_unknown_role_is_refused_before_anything_runs(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    before = await stored_tokens(acme_api)

    response = await admin.post(CREATE_TOKEN, {"input": {"name": "x", "role": "OVERLORD"}})

    assert response.status_code == 400
    assert "OVERLORD" in response.json()["errors"][0]["message"]
    assert await stored_tokens(acme_api) == before


async def test_tokens_are_listed_newest_first_page_by_page(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    for number in range(3):
        await result(admin, CREATE_TOKEN, {"input": {"name": f"bot {number}", "role": "VIEWER"}})

    first = (await admin.data(TOKENS, {"first": 2}))["apiTokens"]
    rest = (await admin.data(TOKENS, {"first": 2, "after": first["pageInfo"]["endCursor"]}))["apiTokens"]

    names = [edge["node"]["name"] for page in (first, rest) for edge in page["edges"]]
    assert names == ["bot 2", "bot 1", "bot 0", "admin of " + acme_api.tenant.slug]
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasNextPage"]) == (4, True, False)
    assert await admin.error_codes(TOKENS, {"after": "bm90LWEtY3Vyc29y"}) == ["BAD_USER_INPUT"]


async def test_last_used_at_is_written_once_a_minute_not_on_every_request(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    created = await result(admin, CREATE_TOKEN, {"input": {"name": "busy bot", "role": "VIEWER"}})
    bot = Api(acme_api.http, created["token"])
    token_id = (await ApiToken.get(token_hash=hashlib.sha256(created["token"].encode()).hexdigest())).id

    await bot.data("{ viewer { role } }")
    first_use = (await ApiToken.get(id=token_id)).last_used_at
    with counting_statements() as counter:
        await bot.data("{ viewer { role } }")
    second_use = (await ApiToken.get(id=token_id)).last_used_at

    assert first_use is not None
    assert second_use == first_use
    assert not [sql for sql in counter.statements if sql.lstrip().upper().startswith("UPDATE")], counter.statements

    # A minute later the next request writes it again.
    await ApiToken.filter(id=token_id).update(last_used_at=first_use - timedelta(seconds=61))
    await bot.data("{ viewer { role } }")
    assert (await ApiToken.get(id=token_id)).last_used_at > first_use


# ---------------------------------------------------------------- monthly limits


async def test_an_admin_sets_its_tenants_limits_and_admission_follows_them(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    operator = await acme_api.as_(Role.OPERATOR)

    set_jobs = await result(admin, SET_LIMITS, {"input": {"monthlyJobs": 1, "monthlyRecords": 1000}})
    started = await result(operator, START_JOB, {"input": {"type": "test.plain", "params": {"records": 5}}})
    over = await result(operator, START_JOB, {"input": {"type": "test.plain", "params": {"records": 5}}})
    # Left out, the records limit stays; null removes the jobs limit.
    lifted = await result(admin, SET_LIMITS, {"input": {"monthlyJobs": None}})
    again = await result(operator, START_JOB, {"input": {"type": "test.plain", "params": {"records": 5}}})

    assert set_jobs["usage"] == {"jobsLimit": 1, "recordsLimit": 1000}
    assert started["__typename"] == "JobStarted"
    refused(over, "PlanLimitError", "PLAN_LIMIT", resource="jobs", limit=1, used=1, requested=1)
    assert lifted["usage"] == {"jobsLimit": None, "recordsLimit": 1000}
    assert again["__typename"] == "JobStarted"
    assert (await operator.data("{ usage { jobsUsed jobsLimit recordsLimit } }"))["usage"] == {
        "jobsUsed": 2, "jobsLimit": None, "recordsLimit": 1000
    }


async def test_limits_are_refused_below_admin_negative_or_for_another_tenant(acme_api: TenantApi, tenant_api):
    globex = await tenant_api(jobs_per_month=7)
    admin = await acme_api.as_(Role.ADMIN)
    before = await Tenant.get(id=acme_api.tenant.id)

    by_operator = await result(await acme_api.as_(Role.OPERATOR), SET_LIMITS, {"input": {"monthlyJobs": 100}})
    negative = await result(admin, SET_LIMITS, {"input": {"monthlyJobs": 5, "monthlyRecords": -1}})
    too_large = await result(admin, SET_LIMITS, {"input": {"monthlyJobs": 2**63}})
    theirs = await result(admin, SET_LIMITS, {"input": {"tenantId": globex.id, "monthlyJobs": 100}})

    refused(by_operator, "ForbiddenError", "FORBIDDEN", neededRole="ADMIN")
    refused(negative, "InvalidInputError", "INVALID_INPUT", field="monthlyRecords")
    refused(too_large, "InvalidInputError", "INVALID_INPUT", field="monthlyJobs")
    refused(theirs, "NotFoundError", "NOT_FOUND")
    after = await Tenant.get(id=acme_api.tenant.id)
    assert (after.jobs_per_month, after.records_per_month) == (before.jobs_per_month, before.records_per_month)
    assert (await Tenant.get(id=globex.tenant.id)).jobs_per_month == 7


async def test_a_platform_principal_sets_any_tenants_limits(acme_api: TenantApi, tenant_api):
    globex = await tenant_api()
    platform = await acme_api.as_(Role.PLATFORM)

    answer = await result(platform, SET_LIMITS, {"input": {"tenantId": globex.id, "monthlyRecords": 50}})

    assert answer == {
        "__typename": "TenantLimitsSet",
        "tenant": {"slug": globex.tenant.slug},
        "usage": {"jobsLimit": None, "recordsLimit": 50},
    }
    viewer = await globex.as_(Role.VIEWER)
    assert (await viewer.data("{ usage { recordsLimit } }"))["usage"] == {"recordsLimit": 50}


# ---------------------------------------------------------------- Sync Size


async def test_a_tenants_sync_size_is_what_its_jobs_start_with_when_they_name_no_chunk_size(
    acme_api: TenantApi, tenant_api
):
    globex = await tenant_api()
    admin = await acme_api.as_(Role.ADMIN)
    operator = await acme_api.as_(Role.OPERATOR)
    schedule = await create_schedule(admin.actor, "hourly", "test.plain", "0 * * * *", {"records": 3})

    chosen = await result(admin, SET_SYNC_SIZE, {"jobType": "test.plain", "chunkSize": 50})
    by_start = await result(operator, START_JOB, {"input": {"type": "test.plain"}})
    by_schedule = (
        await admin.data(
            "mutation($id: ID!) { result: runScheduleNow(id: $id) { ... on JobStarted { job { chunkSize } } } }",
            {"id": gid("Schedule", schedule.id)},
        )
    )["result"]
    named = await result(operator, START_JOB, {"input": {"type": "test.plain", "chunkSize": 7}})
    other_type = await result(operator, START_JOB, {"input": {"type": "test.counted"}})
    elsewhere = await result(await globex.as_(Role.OPERATOR), START_JOB, {"input": {"type": "test.plain"}})

    assert chosen == {
        "__typename": "SyncSizeSet",
        "tenant": {"slug": acme_api.tenant.slug},
        "jobType": "test.plain",
        "chunkSize": 50,
    }
    assert by_start["job"]["chunkSize"] == 50
    assert by_schedule["job"]["chunkSize"] == 50
    assert named["job"]["chunkSize"] == 7
    assert other_type["job"]["chunkSize"] == 50  # test.counted's own default, untouched
    assert elsewhere["job"]["chunkSize"] == 100
    types = {t["name"]: t for t in (await operator.data(SYNC_SIZES))["jobTypes"]}
    assert types["test.plain"] == {
        "name": "test.plain",
        "defaultChunkSize": 100,
        "allowedChunkSizes": [10, 20, 50, 100, 200, 500, 1000],
        "syncSize": 50,
    }
    assert types["test.counted"]["syncSize"] == 50 and types["test.counted"]["defaultChunkSize"] == 50

    reset = await result(admin, SET_SYNC_SIZE, {"jobType": "test.plain", "chunkSize": None})

    assert reset["chunkSize"] == 100
    assert (await result(operator, START_JOB, {"input": {"type": "test.plain"}}))["job"]["chunkSize"] == 100
    assert {t["name"]: t["syncSize"] for t in (await operator.data(SYNC_SIZES))["jobTypes"]}["test.plain"] == 100


async def test_a_sync_size_outside_the_types_list_or_below_admin_is_refused(acme_api: TenantApi, tenant_api):
    globex = await tenant_api()
    admin = await acme_api.as_(Role.ADMIN)
    await result(admin, SET_SYNC_SIZE, {"jobType": "test.plain", "chunkSize": 200})

    outside = await result(admin, SET_SYNC_SIZE, {"jobType": "test.plain", "chunkSize": 30})
    zero = await result(admin, SET_SYNC_SIZE, {"jobType": "test.plain", "chunkSize": 0})
    unknown = await result(admin, SET_SYNC_SIZE, {"jobType": "nope", "chunkSize": 100})
    by_operator = await result(
        await acme_api.as_(Role.OPERATOR), SET_SYNC_SIZE, {"jobType": "test.plain", "chunkSize": 10}
    )
    theirs = await result(admin, SET_SYNC_SIZE, {"jobType": "test.plain", "chunkSize": 10, "tenantId": globex.id})

    refused(outside, "InvalidInputError", "INVALID_INPUT", field="chunkSize")
    assert "10, 20, 50, 100, 200, 500, 1000" in outside["message"]
    refused(zero, "InvalidInputError", "INVALID_INPUT", field="chunkSize")
    refused(unknown, "UnknownJobTypeError", "UNKNOWN_JOB_TYPE", jobType="nope")
    refused(by_operator, "ForbiddenError", "FORBIDDEN", neededRole="ADMIN")
    refused(theirs, "NotFoundError", "NOT_FOUND")
    sizes = {t["name"]: t["syncSize"] for t in (await admin.data(SYNC_SIZES))["jobTypes"]}
    assert sizes["test.plain"] == 200
    viewer_sizes = {t["name"]: t["syncSize"] for t in (await (await globex.as_(Role.VIEWER)).data(SYNC_SIZES))["jobTypes"]}
    assert viewer_sizes["test.plain"] == 100


async def test_sync_sizes_of_every_job_type_cost_one_statement(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    await viewer.data("{ viewer { role } }")  # the token's first use is written once

    with counting_statements() as counter:
        types = (await viewer.data(SYNC_SIZES))["jobTypes"]

    assert len(types) > 5
    assert len([sql for sql in counter.statements if "sync_size" in sql]) == 1, counter.statements


# ---------------------------------------------------------------- job types described


async def test_job_types_describe_themselves_for_a_screen(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    query = """{ jobTypes { name label description system stoppable notStoppableReason restartable
      notRestartableReason steps { name retries failsJob mayWait answerSchema } } }"""

    types = {t["name"]: t for t in (await admin.data(query))["jobTypes"]}

    plain, non_stoppable, non_restartable = types["test.plain"], types["test.non_stoppable"], types["test.non_restartable"]
    assert (plain["label"], plain["notStoppableReason"], plain["notRestartableReason"]) == ("Plain test", None, None)
    assert non_stoppable["stoppable"] is False and non_stoppable["notStoppableReason"].endswith(".")
    assert non_restartable["restartable"] is False and non_restartable["notRestartableReason"].endswith(".")
    system = types["test.system"]
    assert system["system"] is True and "system job" in system["notStoppableReason"]
    assert types["test.approval"]["steps"] == [
        {"name": "prepare", "retries": 0, "failsJob": False, "mayWait": False, "answerSchema": None},
        {"name": "approve", "retries": 0, "failsJob": False, "mayWait": True, "answerSchema": None},
        {"name": "send", "retries": 0, "failsJob": False, "mayWait": False, "answerSchema": None},
    ]
    # The demo catalogue, as `jobtower serve` offers it.
    ledger, prune, campaign = types["ledger_close"], types["system.prune"], types["campaign_run"]
    assert ledger["label"] == "Ledger close" and "books" in ledger["notStoppableReason"]
    assert prune["notStoppableReason"] and prune["notRestartableReason"]
    [approve] = [step for step in campaign["steps"] if step["mayWait"]]
    assert approve["name"] == "approve" and approve["answerSchema"]["required"]
    assert all(t["label"] and t["description"] for name, t in types.items() if not name.startswith("test."))
