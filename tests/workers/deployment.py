"""A deployment's processes for the fault and upgrade tests, and what those tests check after."""

from __future__ import annotations

from datetime import datetime, timedelta

from redis.asyncio import Redis

from domain.models import Job, JobEvent, Record
from domain.statuses import JobOutcome, JobStatus, RecordStatus
from tests.cluster import FAST_SETTINGS, Cluster, wait_until
from tests.gql.failover import Subscriber
from tests.gql.support import gid
from tests.gql.ws import ws_url
from tests.workers.support import wait_for_status
from workers import keys

LEASE = timedelta(seconds=float(FAST_SETTINGS["lease_seconds"]))
# What recovery may take beyond a lease: a dispatcher round, a reconnect, a claim.
GRACE = timedelta(seconds=5)
SLOTS = 4


async def start_workers(cluster: Cluster, *names: str) -> None:
    """Workers ``names`` of ``SLOTS`` slots each, once every one announces its slots: work
    started after is shared by all of them, not taken by whichever came up first."""
    for name in names:
        cluster.start_worker(name, worker_concurrency=SLOTS)
    # A worker's presence key names it "<host>-<pid>-<id>".
    pids = {f"-{cluster.processes[name].pid}-" for name in names}
    redis = Redis.from_url(cluster.redis_url)

    async def all_announced() -> bool:
        present = [key.decode() async for key in redis.scan_iter(match=keys.WORKER_PATTERN)]
        return all(any(pid in key for key in present) for pid in pids)

    try:
        await wait_until(all_announced, timeout=60, what=f"{', '.join(names)} to announce their slots")
    finally:
        await redis.aclose()


async def start_deployment(cluster: Cluster) -> list[str]:
    """What production runs: two API processes, two workers, two dispatchers; the APIs' URLs."""
    await start_workers(cluster, "worker-1", "worker-2")
    cluster.start_dispatcher("dispatcher-1")
    cluster.start_dispatcher("dispatcher-2")
    return cluster.start_apis(2)


def subscribers(apis: list[str], token: str, job: Job, count: int) -> list[Subscriber]:
    """``count`` subscribers to ``job``, spread evenly over the API processes."""
    urls = [ws_url(api) for api in apis]
    return [
        Subscriber([*urls[number % len(urls):], *urls[: number % len(urls)]], token, gid("Job", job.id))
        for number in range(count)
    ]


async def gap_free(watchers: list[Subscriber], job: Job) -> None:
    """Each subscriber got every event of the job exactly once, in order."""
    history = await JobEvent.filter(job_id=job.id).order_by("seq").values_list("seq", flat=True)
    for watcher in watchers:
        await watcher.wait_for(history[-1], timeout=30)
        assert not watcher.errors, watcher.errors
        assert watcher.status_seqs() == history == list(range(1, len(history) + 1))


async def finished_once_each(job: Job, records: int, timeout: float = 120) -> Job:
    """The job finished with exactly one outcome per record, all of them successes."""
    job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=timeout)
    assert job.status is JobStatus.FINISHED and job.outcome is JobOutcome.SUCCEEDED
    rows = await Record.filter(job_id=job.id).values_list("position", "status")
    assert len(rows) == records, f"{len(rows)} outcomes for {records} records"
    assert {position for position, _ in rows} == set(range(records))
    assert {status for _, status in rows} == {RecordStatus.SUCCEEDED}
    assert (job.done, job.succeeded, job.total) == (records, records, records)
    return job


async def longest_pause_after(job: Job, since: datetime) -> timedelta:
    """The longest time after ``since`` in which none of the job's records ended."""
    ends = sorted(await Record.filter(job_id=job.id, ended_at__gte=since).values_list("ended_at", flat=True))
    moments = [since, *ends]
    return max((later - earlier for earlier, later in zip(moments, moments[1:])), default=timedelta(0))


def seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.2f} s"
