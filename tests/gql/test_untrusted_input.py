"""Input no database stores faithfully and no step should get, sent the way a client can send it.

A NUL character fails inside PostgreSQL and is kept by SQLite; NaN and Infinity (which
Python's JSON parser reads from a request body) pass every minimum and maximum of a schema.
Each is refused with the field it sits in, before anything is written.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import jobtower.demo  # noqa: F401  (registers the demo types whose params take text and numbers)
from domain.access import Role
from domain.clock import utcnow
from domain.journey import entry
from domain.models import Job, Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus, StepStatus
from tests.domain.scenarios import add_chunk, put_in, snapshot, start
from tests.gql.support import Api, TenantApi, gid
from tests.gql.test_mutations import RECORD_RESULT, START_RESULT, refusal, tenant_state

NUL = "\x00"


async def post(api: Api, query: str, variables: dict[str, Any]) -> dict:
    """The result of a mutation sent with the body a Python client writes: its json module
    writes NaN and Infinity (httpx refuses to), and Python's JSON parser on the server reads them."""
    body = json.dumps({"query": query, "variables": variables})
    response = await api.http.post("/graphql", content=body, headers={**api.headers(), "content-type": "application/json"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "errors" not in answer, answer["errors"]
    return answer["data"]["result"]


START = f"mutation Start($input: StartJobInput!) {{ result: startJob(input: $input) {{ {START_RESULT} }} }}"


async def start_job(api: Api, **input: Any) -> dict:
    return await post(api, START, {"input": {"type": "test.plain", **input}})


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"name": f"nightly{NUL}sync"}, "name"),
        ({"idempotencyKey": f"crm-sync{NUL}1"}, "idempotencyKey"),
        ({"type": "ai_embedding_batch", "params": {"corpus": f"help{NUL}center"}}, "params.corpus"),
        (
            {"type": "scheduled_report", "params": {"recipients": ["ops@example.com", f"a{NUL}@example.com"]}},
            "params.recipients.1",
        ),
        ({"params": {f"rec{NUL}ords": 1}}, "params"),
        ({"type": "noop", "params": {"stepMs": math.nan}}, "params.stepMs"),
        ({"type": "noop", "params": {"stepMs": math.inf}}, "params.stepMs"),
        ({"type": "noop", "params": {"failRate": -math.inf}}, "params.failRate"),
        ({"type": "noop", "params": {"records": 2.5}}, "params.records"),
    ],
    ids=[
        "nul-name", "nul-key", "nul-param", "nul-nested-param", "nul-param-name",
        "nan", "infinity", "minus-infinity", "fraction-for-integer",
    ],
)
async def test_start_job_refuses_what_cannot_be_stored_naming_the_field(acme_api: TenantApi, input, field):
    operator = await acme_api.as_(Role.OPERATOR)
    state = await tenant_state(acme_api)

    result = await start_job(operator, **input)

    refusal(result, "InvalidInputError", "INVALID_INPUT", field=field)
    assert result["message"].startswith(f"{field}: ")
    assert NUL not in result["message"]
    assert await tenant_state(acme_api) == state


async def test_a_whole_float_for_an_integer_param_is_taken_as_that_integer(acme_api: TenantApi):
    """What a client's JSON encoder writes for a whole number it holds as a float (2.0)."""
    operator = await acme_api.as_(Role.OPERATOR)

    result = await start_job(operator, type="noop", params={"records": 2.0, "steps": 2.0, "stepMs": 1.0})

    assert result["__typename"] == "JobStarted", result
    params = result["job"]["params"]
    assert params == {"records": 2, "steps": 2, "stepMs": 1.0}
    assert type(params["records"]) is int and type(params["steps"]) is int
    job = await Job.get(tenant_id=acme_api.tenant.id)
    assert job.params == params and type(job.params["records"]) is int
    assert job.step_names == ["step1", "step2"]


JOB_COUNT = "query Jobs($filter: JobFilter) { jobs(filter: $filter) { totalCount } }"


@pytest.mark.parametrize(
    ("filter", "field"),
    [
        ({"search": NUL}, "search"),
        ({"search": f"nightly{NUL}"}, "search"),
        ({"type": ["test.plain", "t" * 101]}, "type"),
        ({"type": [f"test.plain{NUL}"]}, "type"),
        ({"type": ["test.plain"] * 101}, "type"),
    ],
    ids=["nul-search", "nul-in-search", "long-type", "nul-type", "many-types"],
)
async def test_a_job_list_filter_no_query_can_answer_is_invalid_input(acme_api: TenantApi, filter, field):
    viewer = await acme_api.as_(Role.VIEWER)
    await start_job(await acme_api.as_(Role.OPERATOR), name="a job the filter must not match")

    body = await viewer.execute(JOB_COUNT, {"filter": filter})

    assert body["data"] is None
    assert [error["extensions"] for error in body["errors"]] == [{"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": field}]


ANSWER = f"mutation Answer($id: ID!, $payload: JSON) {{ result: completeWait(recordId: $id, payload: $payload) {{ {RECORD_RESULT} }} }}"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"by": f"ana{NUL}"}, "payload.by"), ({"score": math.nan}, "payload.score")],
    ids=["nul", "nan"],
)
async def test_complete_wait_refuses_an_answer_that_cannot_be_stored(acme_api: TenantApi, payload, field):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor, type="test.approval")
    await put_in(job, JobStatus.WAITING)
    await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    record = await Record.get(job_id=job.id)
    await Record.filter(id=record.id).update(
        started_at=utcnow(), journey=[entry(0, StepStatus.SUCCEEDED, 0, 1_000), entry(1, StepStatus.WAITING, 2_000)]
    )
    before = await snapshot(job.id)

    result = await post(operator, ANSWER, {"id": gid("Record", record.id), "payload": payload})

    refusal(result, "InvalidInputError", "INVALID_INPUT", field=field)
    assert await snapshot(job.id) == before


async def test_a_log_search_with_a_nul_character_is_invalid_input(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)
    query = "query Logs($id: ID!, $search: String) { job(id: $id) { logs(search: $search) { totalCount } } }"

    body = await viewer.execute(query, {"id": gid("Job", job.id), "search": f"crm{NUL}"})

    assert [error["extensions"] for error in body["errors"]] == [{"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "search"}]
