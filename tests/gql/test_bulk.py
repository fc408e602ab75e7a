"""Bulk operations over HTTP: every action over ids and over a filter, with the jobs it could not
change listed with their typed codes; roles, bad input, tenants, a cancel, and the operation as
the queries show it. The run is the worker's own (``workers.bulk``), driven in the test's process
as a worker would run it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from domain import jobs as verbs
from domain.access import Role
from domain.clock import utcnow
from domain.models import BulkOperation, Job
from domain.statuses import BulkAction, ChunkStatus, JobOutcome, JobStatus, RecordStatus
from gql.ids import parse_global_id
from tests.domain.scenarios import add_chunk, put_in, snapshot, start
from tests.gql.support import Api, TenantApi, gid
from workers.bulk import run_bulk_operation

S = JobStatus
OPERATION = """
  id action status total done succeeded failed createdAt startedAt endedAt
  createdBy { name } tenant { id }
  errors(first: 50) { totalCount edges { node { jobId code message job { id } } } }
"""
START = f"""
mutation Start($input: StartBulkOperationInput!) {{
  result: startBulkOperation(input: $input) {{
    __typename
    ... on BulkOperationStarted {{ bulkOperation {{ {OPERATION} }} }}
    ... on Error {{ code message }}
    ... on InvalidInputError {{ field }}
    ... on ForbiddenError {{ neededRole }}
  }}
}}"""
CANCEL = f"""
mutation Cancel($id: ID!) {{
  result: cancelBulkOperation(id: $id) {{
    __typename
    ... on BulkOperationCanceled {{ bulkOperation {{ {OPERATION} }} }}
    ... on Error {{ code message }}
    ... on ForbiddenError {{ neededRole }}
    ... on InvalidTransitionError {{ status operation }}
  }}
}}"""
PREVIEW = "query Preview($input: StartBulkOperationInput!) { bulkPreview(input: $input) { total eligible } }"
READ = f"query Read($id: ID!) {{ bulkOperation(id: $id) {{ {OPERATION} }} node(id: $id) {{ __typename id }} }}"
LIST = "query List($after: String) { bulkOperations(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id action } } } }"


async def preview(api: Api, action: BulkAction, **input: Any) -> dict:
    return (await api.data(PREVIEW, {"input": {"action": action.value, **input}}))["bulkPreview"]


async def start_bulk(api: Api, action: BulkAction, **input: Any) -> dict:
    return (await api.data(START, {"input": {"action": action.value, **input}}))["result"]


async def run_in_worker(redis: Redis, operation: dict) -> None:
    kind, pk = parse_global_id(operation["id"])
    assert kind == "BulkOperation"
    await run_bulk_operation(
        pk, "test worker", lease=timedelta(seconds=30), heartbeat_seconds=5, redis=redis, draining=asyncio.Event()
    )


async def read(api: Api, operation: dict) -> dict | None:
    return (await api.data(READ, {"id": operation["id"]}))["bulkOperation"]


def error_codes(operation: dict) -> dict[str, str]:
    return {edge["node"]["jobId"]: edge["node"]["code"] for edge in operation["errors"]["edges"]}


async def state(job: Job) -> Any:
    """What a user could notice of the job itself (a retry adds jobs to its tenant)."""
    return replace(await snapshot(job.id), tenant_jobs=())


def ids(*made: Job) -> list[str]:
    return [gid("Job", job.id) for job in made]


async def tenant_jobs(tenant: TenantApi) -> tuple:
    return tuple(
        await Job.filter(tenant_id=tenant.tenant.id).order_by("id").values_list("id", "status", "hidden", "low_priority")
    )


# ---------------------------------------------------------------- every action, over ids and over a filter


@dataclass(frozen=True)
class Case:
    """A job the action changes, one it must refuse (with the code), and how a change shows."""

    role: Role
    eligible: Callable[[Api, str], Awaitable[Job]]
    ineligible: Callable[[Api, str], Awaitable[Job]] | None
    refused_with: str | None
    changed: Callable[[Job], Awaitable[bool]]


def job_in(status: JobStatus, type: str = "test.plain", **fields: Any) -> Callable[[Api, str], Awaitable[Job]]:
    async def make(api: Api, name: str) -> Job:
        job = await start(api.actor, type, name=name)
        return job if status is S.PENDING else await put_in(job, status, **fields)

    return make


def ended(status: JobStatus, type: str = "test.plain") -> Callable[[Api, str], Awaitable[Job]]:
    return job_in(status, type, ended_at=utcnow())


async def with_failed_records(api: Api, name: str) -> Job:
    job = await put_in(
        await start(api.actor, name=name), S.FINISHED, outcome=JobOutcome.WITH_ERRORS, ended_at=utcnow()
    )
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.FAILED])
    return job


async def low_priority(api: Api, name: str) -> Job:
    return await start(api.actor, name=name, low_priority=True)


async def hidden(api: Api, name: str) -> Job:
    return await verbs.hide_job(api.actor, (await start(api.actor, name=name)).id)


def now_in(status: JobStatus) -> Callable[[Job], Awaitable[bool]]:
    async def check(job: Job) -> bool:
        return (await Job.get(id=job.id)).status is status

    return check


def field_is(name: str, value: Any) -> Callable[[Job], Awaitable[bool]]:
    async def check(job: Job) -> bool:
        return getattr(await Job.get(id=job.id), name) == value

    return check


async def retried(job: Job) -> bool:
    return await Job.filter(restarted_from_id=job.id, retry_failed=True).count() == 1


CASES: dict[BulkAction, Case] = {
    BulkAction.STOP: Case(Role.OPERATOR, job_in(S.PENDING), ended(S.FINISHED), "INVALID_TRANSITION", now_in(S.STOPPED)),
    BulkAction.RESUME: Case(Role.OPERATOR, job_in(S.STOPPED), job_in(S.RUNNING), "INVALID_TRANSITION", now_in(S.PENDING)),
    BulkAction.CANCEL: Case(Role.OPERATOR, job_in(S.PENDING), ended(S.FAILED), "INVALID_TRANSITION", now_in(S.CANCELED)),
    BulkAction.RETRY_FAILED_RECORDS: Case(
        Role.OPERATOR, with_failed_records, ended(S.FAILED, "test.non_restartable"), "NOT_RESTARTABLE", retried
    ),
    BulkAction.SET_LOW_PRIORITY: Case(
        Role.ADMIN, job_in(S.PENDING), ended(S.CANCELED), "INVALID_TRANSITION", field_is("low_priority", True)
    ),
    BulkAction.REMOVE_LOW_PRIORITY: Case(
        Role.ADMIN, low_priority, ended(S.FINISHED), "INVALID_TRANSITION", field_is("low_priority", False)
    ),
    # Hiding refuses no job the viewer may see.
    BulkAction.HIDE: Case(Role.OPERATOR, job_in(S.RUNNING), None, None, field_is("hidden", True)),
    BulkAction.UNHIDE: Case(Role.ADMIN, hidden, job_in(S.PENDING), "INVALID_TRANSITION", field_is("hidden", False)),
}


@pytest.mark.parametrize("chosen_by", ["ids", "filter"])
@pytest.mark.parametrize("action", list(BulkAction))
async def test_each_action_changes_the_jobs_it_may_and_lists_those_it_may_not(
    tenant_api, redis: Redis, action: BulkAction, chosen_by: str
):
    acme, other = await tenant_api(), await tenant_api()
    case = CASES[action]
    api = await acme.as_(case.role)
    tag = f"bulk-{uuid.uuid4().hex[:8]}"
    eligible = [await case.eligible(api, f"{tag} ok {n}") for n in range(3)]
    ineligible = [await case.ineligible(api, f"{tag} refused")] if case.ineligible else []
    unrelated = await start(api.actor, name="not chosen")
    theirs = await start((await other.as_(Role.ADMIN)).actor, name=f"{tag} theirs")
    untouched = [*ineligible, unrelated, theirs]
    before = [await state(job) for job in untouched]
    chosen = (
        {"ids": ids(*eligible, *ineligible, theirs)}
        if chosen_by == "ids"
        else {"filter": {"search": tag, "includeHidden": True}}
    )

    told = await preview(api, action, **chosen)
    started = await start_bulk(api, action, **chosen)
    assert started["__typename"] == "BulkOperationStarted", started
    await run_in_worker(redis, started["bulkOperation"])
    operation = await read(api, started["bulkOperation"])

    expected_errors = {gid("Job", job.id): case.refused_with for job in ineligible}
    if chosen_by == "ids":  # another tenant's id is a target, answered as the mutation answers it
        expected_errors[gid("Job", theirs.id)] = "NOT_FOUND"
    assert error_codes(operation) == expected_errors
    assert (operation["action"], operation["status"]) == (action.value, "COMPLETED")
    assert (operation["total"], operation["done"], operation["succeeded"], operation["failed"]) == (
        len(eligible) + len(expected_errors),
        len(eligible) + len(expected_errors),
        len(eligible),
        len(expected_errors),
    )
    # What the preview told before the start is what the run did.
    assert told == {"total": operation["total"], "eligible": operation["succeeded"]}
    assert operation["createdBy"]["name"] == api.principal.name
    for edge in operation["errors"]["edges"]:
        error = edge["node"]
        assert error["message"]
        assert error["job"] == (None if error["jobId"] == gid("Job", theirs.id) else {"id": error["jobId"]})
    assert [await case.changed(job) for job in eligible] == [True] * len(eligible)
    assert [await state(job) for job in untouched] == before


# ---------------------------------------------------------------- roles and input


@pytest.mark.parametrize(
    ("action", "role", "needed"),
    [
        (BulkAction.STOP, Role.VIEWER, "OPERATOR"),
        (BulkAction.CANCEL, Role.VIEWER, "OPERATOR"),
        (BulkAction.HIDE, Role.VIEWER, "OPERATOR"),
        (BulkAction.SET_LOW_PRIORITY, Role.OPERATOR, "ADMIN"),
        (BulkAction.REMOVE_LOW_PRIORITY, Role.OPERATOR, "ADMIN"),
        (BulkAction.UNHIDE, Role.OPERATOR, "ADMIN"),
    ],
)
async def test_a_role_below_the_actions_is_forbidden_and_nothing_is_created(
    acme_api: TenantApi, action: BulkAction, role: Role, needed: str
):
    api = await acme_api.as_(role)
    job = await start((await acme_api.as_(Role.ADMIN)).actor)
    before = await tenant_jobs(acme_api)

    for chosen in ({"ids": ids(job)}, {"filter": {}}):
        result = await start_bulk(api, action, **chosen)
        told = await api.error_codes(PREVIEW, {"input": {"action": action.value, **chosen}})

        assert (result["__typename"], result["code"], result["neededRole"]) == ("ForbiddenError", "FORBIDDEN", needed)
        assert told == ["FORBIDDEN"]
    assert not await BulkOperation.filter(tenant_id=acme_api.tenant.id).exists()
    assert await tenant_jobs(acme_api) == before


async def test_a_viewer_reads_operations_but_cannot_cancel_them(acme_api: TenantApi, redis: Redis):
    operator, viewer = await acme_api.as_(Role.OPERATOR), await acme_api.as_(Role.VIEWER)
    job = await start(operator.actor)
    started = (await start_bulk(operator, BulkAction.STOP, ids=ids(job)))["bulkOperation"]

    refused = (await viewer.data(CANCEL, {"id": started["id"]}))["result"]
    seen = await read(viewer, started)

    assert (refused["__typename"], refused["neededRole"]) == ("ForbiddenError", "OPERATOR")
    assert (seen["id"], seen["status"]) == (started["id"], "PENDING")
    assert (await viewer.data(READ, {"id": started["id"]}))["node"] == {"__typename": "BulkOperation", "id": seen["id"]}
    await run_in_worker(redis, started)
    assert (await read(viewer, started))["status"] == "COMPLETED"
    assert (await Job.get(id=job.id)).status is S.STOPPED


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({}, "input"),
        ({"ids": [gid("Job", 1)], "filter": {}}, "input"),
        ({"ids": []}, "ids"),
        ({"ids": [gid("Job", n) for n in range(1, 1002)]}, "ids"),
        ({"ids": ["not an id"]}, "ids"),
        ({"ids": [gid("Record", 1)]}, "ids"),
        ({"filter": {"search": "x" * 201}}, "search"),
    ],
)
async def test_bad_input_is_a_typed_error_and_creates_nothing(acme_api: TenantApi, input: dict, field: str):
    operator = await acme_api.as_(Role.OPERATOR)

    result = await start_bulk(operator, BulkAction.STOP, **input)
    told = await operator.execute(PREVIEW, {"input": {"action": "STOP", **input}})

    assert (result["__typename"], result["code"], result["field"]) == ("InvalidInputError", "INVALID_INPUT", field)
    assert [(error["extensions"]["code"], error["extensions"].get("field")) for error in told["errors"]] == [
        ("BAD_USER_INPUT", field)
    ]
    assert not await BulkOperation.filter(tenant_id=acme_api.tenant.id).exists()


async def test_an_unknown_action_is_refused_before_anything_runs(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)

    response = await operator.post(START, {"input": {"action": "DELETE", "filter": {}}})

    assert response.status_code == 400
    assert "BulkAction" in response.json()["errors"][0]["message"]
    assert not await BulkOperation.filter(tenant_id=acme_api.tenant.id).exists()


# ---------------------------------------------------------------- tenants


async def test_tenants_never_reach_each_others_jobs_or_operations(tenant_api, redis: Redis):
    acme, other = await tenant_api(), await tenant_api()
    operator, stranger = await acme.as_(Role.OPERATOR), await other.as_(Role.ADMIN)
    mine = await start(operator.actor)
    theirs = await start(stranger.actor)
    before = await snapshot(theirs.id)

    started = (await start_bulk(operator, BulkAction.CANCEL, filter={"status": ["PENDING"]}))["bulkOperation"]
    await run_in_worker(redis, started)

    assert started["total"] == 1 and started["tenant"]["id"] == acme.id
    assert await snapshot(theirs.id) == before
    assert (await Job.get(id=mine.id)).status is S.CANCELED
    # Another tenant's operation answers as one that does not exist.
    missing = {"id": gid("BulkOperation", 987_654_321)}
    assert await stranger.data(READ, started) == await stranger.data(READ, missing) == {"bulkOperation": None, "node": None}
    refused = (await stranger.data(CANCEL, started))["result"]
    assert refused == {**(await stranger.data(CANCEL, missing))["result"], "message": refused["message"]}
    assert refused["code"] == "NOT_FOUND"
    assert (await stranger.data(LIST))["bulkOperations"]["totalCount"] == 0
    refused_filter = await start_bulk(operator, BulkAction.CANCEL, filter={"tenantId": other.id})
    assert refused_filter["__typename"] == "NotFoundError"
    # The platform sees every tenant's operations.
    platform = await (await tenant_api()).as_(Role.PLATFORM)
    assert (await read(platform, started))["id"] == started["id"]


# ---------------------------------------------------------------- canceling, lists, errors


async def test_a_canceled_operation_touches_no_job_it_had_not_reached(acme_api: TenantApi, redis: Redis):
    operator = await acme_api.as_(Role.OPERATOR)
    made = [await start(operator.actor) for _ in range(3)]
    before = await tenant_jobs(acme_api)
    started = (await start_bulk(operator, BulkAction.CANCEL, ids=ids(*made)))["bulkOperation"]

    canceled = (await operator.data(CANCEL, {"id": started["id"]}))["result"]
    await run_in_worker(redis, started)  # the worker that would have taken it up

    assert canceled["__typename"] == "BulkOperationCanceled"
    assert (canceled["bulkOperation"]["status"], canceled["bulkOperation"]["endedAt"] is not None) == ("CANCELED", True)
    after = await read(operator, started)
    assert (after["status"], after["done"], after["total"], after["startedAt"]) == ("CANCELED", 0, 3, None)
    assert await tenant_jobs(acme_api) == before
    again = (await operator.data(CANCEL, {"id": started["id"]}))["result"]
    assert (again["__typename"], again["status"], again["operation"]) == ("InvalidTransitionError", "CANCELED", "CANCEL")


async def test_operations_are_listed_newest_first_page_by_page(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor)
    made = [(await start_bulk(operator, action, ids=ids(job)))["bulkOperation"]["id"] for action in
            (BulkAction.STOP, BulkAction.HIDE, BulkAction.CANCEL)]

    first = (await operator.data(LIST))["bulkOperations"]
    second = (await operator.data(LIST, {"after": first["pageInfo"]["endCursor"]}))["bulkOperations"]

    assert [edge["node"]["id"] for edge in first["edges"] + second["edges"]] == made[::-1]
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"], second["pageInfo"]["hasNextPage"]) == (3, True, False)
    assert await operator.error_codes(LIST, {"after": "garbage"}) == ["BAD_USER_INPUT"]
    for operation_id in made:
        await operator.data(CANCEL, {"id": operation_id})


async def test_the_errors_of_an_operation_come_page_by_page_in_job_order(acme_api: TenantApi, redis: Redis):
    operator = await acme_api.as_(Role.OPERATOR)
    finished = [await put_in(await start(operator.actor), S.FINISHED, ended_at=utcnow()) for _ in range(3)]
    started = (await start_bulk(operator, BulkAction.STOP, ids=ids(*reversed(finished))))["bulkOperation"]
    await run_in_worker(redis, started)
    page = "query P($id: ID!, $after: String) { bulkOperation(id: $id) { errors(first: 2, after: $after) {"
    page += " totalCount pageInfo { hasNextPage endCursor } edges { node { jobId code } } } } }"

    first = (await operator.data(page, {"id": started["id"]}))["bulkOperation"]["errors"]
    rest = (await operator.data(page, {"id": started["id"], "after": first["pageInfo"]["endCursor"]}))
    rest = rest["bulkOperation"]["errors"]

    assert [edge["node"]["jobId"] for edge in first["edges"] + rest["edges"]] == ids(*finished)
    assert {edge["node"]["code"] for edge in first["edges"] + rest["edges"]} == {"INVALID_TRANSITION"}
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasNextPage"]) == (3, True, False)


async def test_the_preview_counts_a_retry_only_for_jobs_with_failed_records_and_changes_nothing(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    failed = await with_failed_records(operator, "had failures")
    clean = await put_in(await start(operator.actor), S.FINISHED, outcome=JobOutcome.SUCCEEDED, ended_at=utcnow())
    before = await tenant_jobs(acme_api)

    told = await preview(operator, BulkAction.RETRY_FAILED_RECORDS, ids=ids(failed, clean))

    assert told == {"total": 2, "eligible": 1}
    assert await tenant_jobs(acme_api) == before
    assert not await BulkOperation.filter(tenant_id=acme_api.tenant.id).exists()
