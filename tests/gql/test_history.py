"""A job's history over HTTP, on both databases: each event says from and to which status,
what moved the job or what else changed, who or what caused it, and when."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.access import PrincipalKind, Role
from domain.clock import utcnow
from domain.chunks import MAX_CHUNK_ATTEMPTS
from domain.execution import reap_expired_leases, release_chunk, settle_idle_wind_downs
from domain.jobs import expire_waits, mark_running
from domain.models import Chunk, Job, Record
from domain.statuses import ChunkOperation, ChunkStatus, JobStatus, RecordStatus
from domain.tenants import create_token
from gql.ids import from_global_id
from tests.domain.scenarios import add_chunk, put_in
from tests.gql.support import Api, TenantApi, gid

START = """
mutation { startJob(input: {type: "test.plain", params: {records: 3}}) { ... on JobStarted { job { id } } } }
"""
OPERATION = """
mutation($id: ID!) { %s(id: $id%s) { ... on JobOperationSuccess { job { id } } } }
"""
HISTORY = """
query History($id: ID!, $first: Int, $after: String) {
  job(id: $id) {
    history(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node {
        seq kind at fromStatus toStatus operation actor { kind name } changes { field value }
        job { id status }
      } }
    }
  }
}
"""


async def operate(api: Api, job_id: str, mutation: str, arguments: str = "") -> None:
    data = await api.data(OPERATION % (mutation, arguments), {"id": job_id})
    assert data[mutation]["job"]["id"] == job_id, data


async def whole_history(api: Api, job_id: str, page: int) -> tuple[list[dict[str, Any]], set[int]]:
    """Every event, page by page; and the totalCount each page gave."""
    events: list[dict[str, Any]] = []
    totals: set[int] = set()
    after = None
    while True:
        job = (await api.data(HISTORY, {"id": job_id, "first": page, "after": after}))["job"]
        history = job["history"]
        totals.add(history["totalCount"])
        events.extend(edge["node"] for edge in history["edges"])
        if not history["pageInfo"]["hasNextPage"]:
            return events, totals
        after = history["pageInfo"]["endCursor"]


def change(event: dict[str, Any]) -> tuple:
    return (
        event["seq"], event["kind"], event["fromStatus"], event["toStatus"], event["operation"],
        event["actor"]["kind"], event["actor"]["name"], [(c["field"], c["value"]) for c in event["changes"]],
    )


async def test_a_jobs_history_says_what_each_event_changed_who_caused_it_and_when(acme_api: TenantApi):
    user = await acme_api.as_(Role.OPERATOR)
    issued = await create_token(acme_api.tenant.slug, Role.ADMIN, name="deploy bot", kind=PrincipalKind.BOT)
    bot = Api(user.http, issued.token, issued.principal)
    before = utcnow()

    job_id = (await user.data(START))["startJob"]["job"]["id"]
    await mark_running(from_global_id(job_id, "Job"))  # a worker started the first chunk
    await operate(bot, job_id, "setJobLowPriority", ", lowPriority: true")
    await operate(bot, job_id, "stopJob")
    await settle_idle_wind_downs()  # the dispatcher finds nothing in flight: drained
    await operate(user, job_id, "resumeJob")
    await operate(user, job_id, "hideJob")
    after = utcnow()

    events, totals = await whole_history(await acme_api.as_(Role.VIEWER), job_id, page=3)

    operator, worker = user.principal.name, "worker"
    assert [change(event) for event in events] == [
        (1, "CREATED", None, "PENDING", None, "USER", operator, []),
        (2, "STATUS_CHANGED", "PENDING", "RUNNING", "CHUNK_STARTED", "WORKER", worker, []),
        (3, "PRIORITY_CHANGED", "RUNNING", "RUNNING", None, "BOT", "deploy bot", [("lowPriority", True)]),
        (4, "STATUS_CHANGED", "RUNNING", "STOPPING", "STOP", "BOT", "deploy bot", []),
        (5, "STATUS_CHANGED", "STOPPING", "STOPPED", "DRAINED", "SYSTEM", "system", []),
        (6, "STATUS_CHANGED", "STOPPED", "PENDING", "RESUME", "USER", operator, []),
        (7, "HIDDEN", "PENDING", "PENDING", None, "USER", operator, [("hidden", True)]),
    ]
    assert totals == {7}
    moments = [datetime.fromisoformat(event["at"]) for event in events]
    assert before <= moments[0] and moments == sorted(moments) and moments[-1] <= after
    # Each event is its own change; the job beside it is the job now.
    assert {(event["job"]["id"], event["job"]["status"]) for event in events} == {(job_id, "PENDING")}


async def running_with_one_chunk(api: Api, record: RecordStatus, owner: str | None) -> tuple[Job, Chunk]:
    job = await Job.get(id=from_global_id((await api.data(START))["startJob"]["job"]["id"], "Job"))
    await mark_running(job.id)
    # startJob wrote the job's one chunk: it is replaced by one in the state the test needs.
    await Chunk.filter(job_id=job.id).delete()
    await Job.filter(id=job.id).update(enumerated=True, total=1)
    status = ChunkStatus.RUNNING if owner else ChunkStatus.WAITING  # no worker holds a parked chunk
    return job, await add_chunk(job, 0, status, [record], lease_owner=owner)


async def last_event(api: Api, job: Job) -> tuple:
    page = (await api.data(HISTORY, {"id": gid("Job", job.id), "first": 100}))["job"]["history"]
    return change(page["edges"][-1]["node"])[1:7]


async def test_what_the_work_reports_is_a_workers_and_what_the_platform_decides_the_systems(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)

    # The worker that ran the last chunk releases it: the job is done.
    done, chunk = await running_with_one_chunk(operator, RecordStatus.SUCCEEDED, owner="worker-1")
    await release_chunk(chunk.id, "worker-1", ChunkOperation.COMPLETE)
    # The last chunk's worker died once too often: the reaper gives it up, and the job ends.
    abandoned, chunk = await running_with_one_chunk(operator, RecordStatus.PENDING, owner="worker-2")
    await Chunk.filter(id=chunk.id).update(
        attempts=MAX_CHUNK_ATTEMPTS, lease_expires_at=utcnow() - timedelta(seconds=1)
    )
    await reap_expired_leases()
    # Nobody answered a waiting record in time: the job runs on.
    waited, chunk = await running_with_one_chunk(operator, RecordStatus.WAITING, owner=None)
    await put_in(waited, JobStatus.WAITING)
    await Record.filter(chunk_id=chunk.id).update(wait_deadline=utcnow() - timedelta(seconds=1))
    await expire_waits()

    assert await last_event(operator, done) == (
        "STATUS_CHANGED", "RUNNING", "FINISHED", "WORK_DONE", "WORKER", "worker"
    )
    assert await last_event(operator, abandoned) == (
        "STATUS_CHANGED", "RUNNING", "FINISHED", "WORK_DONE", "SYSTEM", "system"
    )
    assert await last_event(operator, waited) == (
        "STATUS_CHANGED", "WAITING", "RUNNING", "WAIT_COMPLETED", "SYSTEM", "system"
    )
