"""Why and how long a job waits, over HTTP: its place in line and estimated start, the records
that wait for answers, and a running chunk's records in flight; the same few statements
whatever the number of jobs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.access import Role
from domain.clock import utcnow
from domain.estimates import DURATION_SAMPLE
from domain.execution import claim_next_chunk, start_chunk
from domain.models import Chunk, Job, Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from tests.domain.scenarios import add_chunk, put_in, start
from tests.gql.support import TenantApi, counting_statements, gid
from tests.workers.support import discard_open_jobs
from workers import keys

LEASE = timedelta(minutes=5)
JOBS = """
query Jobs($first: Int) {
  jobs(first: $first, orderBy: {field: CREATED_AT, direction: ASC}) { edges { node {
    id status waitingReason queuePosition estimatedStartAt
    waitingRecords { count since }
    chunks(first: 10) { edges { node { index status inFlight { count fromPosition } } } }
  } } }
}"""


@pytest.fixture
async def two_slots(redis):
    """One worker online with two chunk slots, and nothing other tests left open in the queue."""
    await discard_open_jobs()
    key = keys.worker("waiting-tests")
    await redis.set(key, 2, ex=60)
    yield
    await redis.delete(key)
    await discard_open_jobs()


async def job_with_chunks(api: TenantApi, chunks: int, **request) -> Job:
    job = await start((await api.as_(Role.ADMIN)).actor, **request)
    for index in range(chunks):
        await add_chunk(job, index, ChunkStatus.PENDING, [RecordStatus.PENDING] * 2)
    await Job.filter(id=job.id).update(enumerated=True, total=2 * chunks)
    return await Job.get(id=job.id)


async def chunks_took(api: TenantApi, seconds: float) -> None:
    """A job of the type the tests start finished a moment ago, its chunks of two records
    taking ``seconds`` each: how long such chunks take now. As many as the estimates read,
    so that what other tests ran lately does not count."""
    ended = utcnow()
    job = await put_in(await start((await api.as_(Role.ADMIN)).actor), JobStatus.FINISHED, ended_at=ended)
    await Chunk.bulk_create([
        Chunk(
            job_id=job.id, index=index, status=ChunkStatus.COMPLETED, range_start=2 * index,
            range_end=2 * index + 2, cursor=2 * index + 2, started_at=ended - timedelta(seconds=seconds),
            ended_at=ended, done=2, succeeded=2,
        )
        for index in range(DURATION_SAMPLE)
    ])


def by_id(data: dict) -> dict[str, dict]:
    return {edge["node"]["id"]: edge["node"] for edge in data["jobs"]["edges"]}


async def test_waiting_jobs_show_their_place_their_start_and_what_runs_or_waits(acme_api: TenantApi, two_slots):
    viewer = await acme_api.as_(Role.VIEWER)
    await chunks_took(acme_api, seconds=4)
    busy = await job_with_chunks(acme_api, 4)
    for owner in ("slot-1", "slot-2"):
        claimed = await claim_next_chunk(owner, LEASE)
        assert claimed is not None and await start_chunk(claimed, owner)
    newcomer = await job_with_chunks(acme_api, 1)  # another root: the next free slot is its
    low = await job_with_chunks(acme_api, 1, low_priority=True)  # after every normal chunk
    waiting = await put_in(await start((await acme_api.as_(Role.ADMIN)).actor), JobStatus.WAITING)
    parked = await add_chunk(waiting, 0, ChunkStatus.WAITING, [RecordStatus.SUCCEEDED] + [RecordStatus.WAITING] * 3)
    asked = utcnow() - timedelta(minutes=5)
    for offset, record in enumerate(await Record.filter(chunk_id=parked.id, status=RecordStatus.WAITING)):
        await Record.filter(id=record.id).update(waiting_since=asked + timedelta(minutes=offset))

    jobs = by_id(await viewer.data(JOBS, {"first": 10}))

    running = jobs[gid("Job", busy.id)]
    assert (running["status"], running["queuePosition"], running["estimatedStartAt"]) == ("RUNNING", None, None)
    # Each running chunk's two records are in its worker's hands; the others are nobody's yet.
    assert [chunk["node"]["inFlight"] for chunk in running["chunks"]["edges"]] == [
        {"count": 2, "fromPosition": 0}, {"count": 2, "fromPosition": 100}, None, None,
    ]
    first, last = jobs[gid("Job", newcomer.id)], jobs[gid("Job", low.id)]
    assert (first["queuePosition"], last["queuePosition"]) == (1, 2)
    # A chunk takes four seconds. The newcomer starts when the first running chunk ends, and
    # the busy job's two ready chunks when the second ends and when the newcomer's does; the
    # low-priority job follows them, when the slot of the second running chunk frees again.
    first_start, last_start = (datetime.fromisoformat(job["estimatedStartAt"]) for job in (first, last))
    started = sorted(await Chunk.filter(job_id=busy.id).exclude(started_at=None).values_list("started_at", flat=True))
    assert abs((first_start - (started[0] + timedelta(seconds=4))).total_seconds()) < 0.01
    assert abs((last_start - (started[1] + timedelta(seconds=8))).total_seconds()) < 0.01
    answered = jobs[gid("Job", waiting.id)]
    assert (answered["waitingReason"], answered["queuePosition"]) == ("EXTERNAL_STEP", None)
    assert answered["waitingRecords"]["count"] == 3
    assert datetime.fromisoformat(answered["waitingRecords"]["since"]) == asked
    assert all(job["waitingRecords"] is None for job in (running, first, last))


async def test_the_waiting_figures_cost_the_same_statements_for_two_jobs_and_for_forty(tenant_api, two_slots):
    async def statements(jobs: int) -> int:
        tenant = await tenant_api()
        for _ in range(jobs):
            await job_with_chunks(tenant, 2)
        viewer = await tenant.as_(Role.VIEWER)
        with counting_statements() as counter:
            data = await viewer.data(JOBS, {"first": jobs})
        places = [edge["node"]["queuePosition"] for edge in data["jobs"]["edges"]]
        assert len(places) == jobs and None not in places
        return len(counter.statements)

    assert await statements(2) == await statements(40)
