"""With JOBTOWER_GRAPHQL_FAST_EXECUTION=0 the API runs Strawberry's own execution, without the
overrides of gql.execution and gql.fanout; it answers exactly what the fast execution does.

test_http runs over a served API both ways; here the two executions answer the same requests on
the same rows, in-process: nested pages, journeys, enums, scalars, JSON, history, field errors,
a masked crash.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from domain.access import PrincipalKind, Role
from domain.clock import utcnow
from domain.jobs import set_job_low_priority, stop_job
from domain.journey import entry
from domain.models import Chunk, Job, Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus, StepStatus
from domain.tenants import create_token
from gql.fanout import SharedEventExecution
from gql.schema import schema_for
from jobtower.app import create_app
from jobtower.settings import Settings
from tests.domain.scenarios import start
from tests.gql.conftest import BASE_URL, FAST, PLAIN
from tests.gql.support import Api, gid
from tests.gql.trees import build_tree

PROGRESS = "total done succeeded failed skipped interrupted canceled percent estimated"
STEP = "name status startedAt endedAt durationSeconds detail error waitedSeconds answeredBy"
# Everything but what grows with the clock (waiting and running times of jobs that have not ended).
JOBS = f"""
query Console {{
  jobs(first: 10) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{
      __typename id type name status outcome error params system hidden lowPriority stoppable restartable
      createdAt startedAt endedAt hasErrors chunkSize seq
      progress {{ {PROGRESS} }}
      childrenProgress {{ {PROGRESS} }}
      tenant {{ slug name }}
      runBy {{ name }}
      parent {{ id }} root {{ id name }}
      chunks(first: 5) {{ totalCount edges {{ node {{
        id index status cursor attempts startedAt endedAt durationSeconds progress {{ done total }}
        records(first: 10) {{ edges {{ cursor node {{
          id key position status outcome error attempts startedAt endedAt durationSeconds
          journey {{ {STEP} }}
          steps: journey {{ name }}
        }} }} }}
      }} }} }}
    }} }}
  }}
}}
"""
JOB = f"""
query Job($id: ID!) {{
  job(id: $id) {{
    name
    history(first: 20) {{ edges {{ node {{
      seq kind at fromStatus toStatus operation actor {{ kind name }} changes {{ __typename }} job {{ id status }}
    }} }} }}
    records(first: 5) {{ edges {{ node {{ key journey {{ {STEP} }} }} }} }}
  }}
}}
"""
NODE = f"query Node($id: ID!) {{ node(id: $id) {{ __typename id ... on Record {{ key status journey {{ {STEP} }} }} }} }}"
FIELD_ERROR = 'query Bad($id: ID!) { viewer { role } job(id: $id) { name records(after: "bogus") { totalCount } } }'
CRASH = "query Crash($id: ID!) { job(id: $id) { name records { edges { node { key journey { name } } } } } }"
JOB_TYPES = "{ jobTypes { name stoppable restartable system defaultChunkSize paramsSchema } }"


@pytest.fixture(scope="module")
async def clients(redis_url: str) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """An in-process API per execution, on the same database."""
    async with AsyncExitStack() as stack:
        clients = {}
        for execution in (FAST, PLAIN):
            app = create_app(Settings(redis_url=redis_url, graphql_fast_execution=execution == FAST), redis_url)
            clients[execution] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
            )
        yield clients


def test_the_setting_turns_the_execution_overrides_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("JOBTOWER_GRAPHQL_FAST_EXECUTION", "0")
    assert Settings().graphql_fast_execution is False
    monkeypatch.delenv("JOBTOWER_GRAPHQL_FAST_EXECUTION")
    assert Settings().graphql_fast_execution is True

    assert schema_for(False).execution_context_class is StrawberryGraphQLCoreExecutionContext
    assert schema_for(True).execution_context_class is SharedEventExecution


async def test_both_executions_answer_the_same(clients: dict[str, httpx.AsyncClient], make_tenant):
    tenant = (await make_tenant()).tenant
    issued = await create_token(tenant.slug, Role.ADMIN, name="both ways", kind=PrincipalKind.USER)
    tree = await build_tree(tenant.id, jobs=4, chunks=3, records=5, run_by_id=issued.principal.id)
    apis = {execution: Api(client, issued.token, issued.principal) for execution, client in clients.items()}
    admin = apis[FAST].actor
    stopped = await start(admin, name="with a history")
    await set_job_low_priority(admin, stopped.id, True)
    await stop_job(admin, stopped.id)
    record = await Record.filter(job_id=tree.job_ids[0]).order_by("position").first()
    assert record is not None
    await Record.filter(id=record.id).update(
        status=RecordStatus.FAILED,
        error="CRM said no",
        journey=[
            entry(0, StepStatus.SUCCEEDED, 0, 1_500, detail={"crm": [1, None, "x"]}),
            entry(1, StepStatus.FAILED, 2_000, 40_000, error="CRM said no"),
        ],
    )

    async def same_answers(document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answers = {execution: without_request_ids(await api.execute(document, variables)) for execution, api in apis.items()}
        assert answers[PLAIN] == answers[FAST], document
        return answers[PLAIN]

    for document, variables in [
        (JOBS, None),
        (JOB, {"id": gid("Job", stopped.id)}),
        (JOB, {"id": gid("Job", tree.job_ids[0])}),
        (NODE, {"id": gid("Record", record.id)}),
        (JOB_TYPES, None),
    ]:
        assert "errors" not in await same_answers(document, variables), document
    assert (await same_answers(FIELD_ERROR, {"id": gid("Job", tree.job_ids[1])}))["errors"]
    assert (await same_answers(CRASH, {"id": gid("Job", (await broken_job(apis[FAST])).id)}))["errors"]


async def broken_job(api: Api) -> Job:
    """A job with a journey no release of Jobtower writes: reading it raises."""
    job = await start(api.actor, name="broken")
    await Job.filter(id=job.id).update(status=JobStatus.RUNNING, started_at=utcnow())
    chunk = await Chunk.create(job_id=job.id, index=0, status=ChunkStatus.RUNNING, range_start=0, range_end=1, cursor=1)
    await Record.create(
        job_id=job.id, partition_id=job.partition_id, chunk_id=chunk.id, position=0, key="r0",
        status=RecordStatus.SUCCEEDED,
        started_at=utcnow(), journey=[[0, "EXPLODED", 0, 5]],
    )
    return job


def without_request_ids(answer: dict[str, Any]) -> dict[str, Any]:
    for error in answer.get("errors", ()):
        if "requestId" in error.get("extensions", {}):
            error["extensions"]["requestId"] = "<request>"
            error["message"] = re.sub(r"\(request \w+\)", "(request <request>)", error["message"])
    return answer
