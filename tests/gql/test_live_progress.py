"""What a live screen and a refreshing one see of a running job: progress that never goes back,
pulled over HTTP or pushed over the WebSocket, and that ends at the database's counts.

Real ``jobtower api``, workers and dispatcher processes; the client polls and listens at
once, as a console with a live list and a Refresh button would.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from domain.access import Role
from domain.jobs import force_stop_job, stop_job
from domain.models import Chunk, Job, JobLog, Record
from domain.statuses import TERMINAL, ChunkStatus, JobStatus, RecordStatus
from gql.ids import to_global_id
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.gql.live import Api, api, cluster, live_redis_url, redis, token  # noqa: F401  (fixtures)
from tests.gql.ws import graphql_ws
from tests.workers.support import start, wait_for_status

JOB_UPDATED = """
subscription($id: ID!) {
  jobUpdated(id: $id, afterSeq: 0) { seq kind job { status progress { done failed interrupted } } }
}"""
JOB = "query($id: ID!) { job(id: $id) { status progress { done failed interrupted } } }"


async def poll_until_over(api: Api, bearer: str, job: Job, seen: list[dict[str, Any]]) -> None:
    """What a reader pressing Refresh all the time sees, until the job has ended or stopped."""
    variables = {"id": str(to_global_id("Job", job.id))}
    async with httpx.AsyncClient(base_url=api.http_url, headers={"authorization": f"Bearer {bearer}"}) as http:
        while True:
            answer = (await http.post("/graphql", json={"query": JOB, "variables": variables})).json()
            seen.append(answer["data"]["job"])
            if seen[-1]["status"] in {*TERMINAL, JobStatus.STOPPED}:
                return
            await asyncio.sleep(0.01)


def done_values(seen: list[dict[str, Any]]) -> list[int]:
    return [job["progress"]["done"] for job in seen]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_progress_never_goes_back_pulled_or_pushed_and_ends_at_the_database_counts(
    api: Api, cluster: Cluster, acme: TenantFixture
):
    records = 600
    cluster.start_worker("first", worker_concurrency=2)
    cluster.start_worker("second", worker_concurrency=2)
    cluster.start_dispatcher()
    viewer = await token(acme, Role.VIEWER)
    job = await start(acme, "test.plain", records=records, stepMs=3, chunk_size=50)
    pulled: list[dict[str, Any]] = []

    async with graphql_ws(api.ws, viewer) as ws:
        pushed = await ws.subscribe(JOB_UPDATED, {"id": str(to_global_id("Job", job.id))})
        await poll_until_over(api, viewer, job, pulled)
        events = await pushed.collect(
            lambda got: bool(got) and got[-1]["jobUpdated"]["job"]["status"] == "FINISHED",
            timeout=60, what="the job's FINISHED event",
        )

    pushed_done = done_values([event["jobUpdated"]["job"] for event in events])
    assert len(set(done_values(pulled))) >= 3 and len(set(pushed_done)) >= 3, "it was watched while it ran"
    assert done_values(pulled) == sorted(done_values(pulled))
    assert pushed_done == sorted(pushed_done)
    final = await Job.get(id=job.id)
    assert done_values(pulled)[-1] == pushed_done[-1] == final.done == records
    assert await Record.filter(job_id=job.id).count() == records


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_force_stop_shows_interrupted_records_as_such_and_progress_still_never_goes_back(
    api: Api, cluster: Cluster, acme: TenantFixture
):
    cluster.start_worker("first", worker_concurrency=2)
    cluster.start_worker("second", worker_concurrency=2)
    cluster.start_dispatcher()
    operator = acme.actor(Role.OPERATOR)
    viewer = await token(acme, Role.VIEWER)
    # Steps long enough that every running chunk still has a record in flight when the force
    # stop comes, however slow a loaded machine is between the stop and the force stop.
    job = await start(acme, "test.plain", records=2000, stepMs=2000, chunk_size=100)
    pulled: list[dict[str, Any]] = []
    polling = asyncio.create_task(poll_until_over(api, viewer, job, pulled))

    async def done_some() -> bool:
        return (await Job.get(id=job.id)).done >= 4

    await wait_until(done_some, timeout=60, what="the first records done")
    await stop_job(operator, job.id)
    stopped = await force_stop_job(operator, job.id)
    assert stopped.status is JobStatus.STOPPED
    # No chunk runs under a stopped job, at once.
    assert not await Chunk.filter(job_id=job.id, status=ChunkStatus.RUNNING).exists()
    await polling

    async def workers_let_go() -> bool:
        return not await Chunk.filter(job_id=job.id).exclude(lease_owner=None).exists()

    await wait_until(workers_let_go, timeout=30, what="the workers to write what they cut off")
    job = await wait_for_status(job, JobStatus.STOPPED)
    interrupted = await Record.filter(job_id=job.id, status=RecordStatus.INTERRUPTED).count()
    assert interrupted > 0
    assert (job.interrupted, job.failed) == (interrupted, 0), "interrupted records are not failed ones"
    warned = sum(
        line.fields_.get("interruptedRecords", 0) for line in await JobLog.filter(job_id=job.id, level="WARNING")
    )
    assert warned == interrupted, "the warnings say how many records were cut off"
    assert done_values(pulled) == sorted(done_values(pulled))
