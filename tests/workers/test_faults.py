"""Faults an operator meets, on PostgreSQL and Redis with the processes started separately.

Each scenario ends with every record done once — nothing lost, no second outcome — and
with the work running again within a lease and a few seconds of the fault ending: the
longest pause between two records ending is held to the fault's own length plus that.
The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from domain.access import Role
from domain.clock import utcnow
from domain.jobs import resume_job, set_job_low_priority, stop_job
from domain.models import Chunk, Job
from domain.statuses import ChunkStatus, JobStatus
from domain.tenants import create_token
from tests.cluster import Cluster, wait_until
from tests.conftest import TenantFixture
from tests.gql.failover import running
from tests.gql.ws import ws_url
from tests.services import PostgresServer, free_port
from tests.workers.deployment import (
    GRACE,
    LEASE,
    finished_once_each,
    gap_free,
    longest_pause_after,
    seconds,
    start_deployment,
    start_workers,
    subscribers,
)
from tests.workers.support import start, wait_for_records, wait_for_status
from workers import keys
from workers.dispatcher import LEADER_SECONDS
from workers.redis_server import EmbeddedRedis

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


async def held_by(cluster: Cluster, name: str, job: Job) -> list[int]:
    """The ids of the chunks of ``job`` the worker ``name`` holds."""
    owned_by_it = f"-{cluster.processes[name].pid}-"  # lease owners are "<host>-<pid>-<id>/<run>"
    return await Chunk.filter(
        job_id=job.id, status__in=[ChunkStatus.QUEUED, ChunkStatus.RUNNING], lease_owner__contains=owned_by_it
    ).values_list("id", flat=True)


async def worker_holding_chunks(cluster: Cluster, name: str, job: Job) -> list[int]:
    """Freeze ``name`` (SIGSTOP) at a moment it holds chunks of ``job``; their ids."""
    process = cluster.processes[name]

    async def frozen_holding() -> list[int]:
        process.send_signal(signal.SIGSTOP)
        held = await held_by(cluster, name, job)
        if not held:
            process.send_signal(signal.SIGCONT)
        return held

    return await wait_until(frozen_holding, timeout=30, what=f"{name} to hold chunks")


async def test_a_worker_killed_after_the_last_chunks_were_handed_out(cluster: Cluster, acme: TenantFixture):
    records, chunk = 3000, 250  # 12 chunks of 2 s each
    await start_workers(cluster, "doomed")
    cluster.start_dispatcher()
    job = await start(acme, "test.counted", records=records, stepMs=8, chunk_size=chunk)
    # Ahead of the survivor by its start, the doomed worker is the first to free its slots
    # and takes the last chunks, which it still runs when the test freezes it.
    await wait_until(lambda: held_by(cluster, "doomed", job), what="doomed to take the first chunks")
    await start_workers(cluster, "survivor")

    async def all_handed_out() -> bool:
        return await Chunk.filter(job_id=job.id).count() == records // chunk and not await Chunk.filter(
            job_id=job.id, status=ChunkStatus.PENDING
        ).exists()

    await wait_until(all_handed_out, timeout=60, what="every chunk to be taken")
    held = await worker_holding_chunks(cluster, "doomed", job)
    killed = time.monotonic()
    cluster.kill("doomed")

    async def given_back() -> bool:
        return not await Chunk.filter(
            id__in=held, status__in=[ChunkStatus.QUEUED, ChunkStatus.RUNNING], attempts=1
        ).exists()

    await wait_until(given_back, timeout=60, what="the dead worker's chunks to be given back")
    recovery = timedelta(seconds=time.monotonic() - killed)
    print(f"\n{len(held)} chunks of a killed worker given back after {seconds(recovery)} (lease {seconds(LEASE)})")
    await finished_once_each(job, records)
    assert recovery <= LEASE + GRACE


async def test_redis_restarted_with_its_data_pauses_the_work_no_longer_than_a_lease(
    cluster: Cluster, acme: TenantFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    own_redis = EmbeddedRedis(tmp_path / "redis", port=free_port())
    cluster.redis_url = own_redis.start()
    monkeypatch.setenv("REDIS_URL", cluster.redis_url)  # test.counted counts here
    try:
        records = 4000
        await start_workers(cluster, "worker-1", "worker-2")
        cluster.start_dispatcher()
        job = await start(acme, "test.counted", records=records, stepMs=6, chunk_size=100)
        await wait_for_records(job, 500)

        redis = Redis.from_url(cluster.redis_url)
        await redis.save()  # what a Redis with persistence keeps over a restart
        await redis.aclose()
        own_redis.stop()
        await asyncio.sleep(3)  # the outage
        own_redis.start()
        back = utcnow()

        await finished_once_each(job, records)
        pause = await longest_pause_after(job, back)
        print(f"longest pause after Redis came back: {seconds(pause)}")
        assert pause <= LEASE + GRACE
        # The outage is told once with its traceback, then briefly while the rounds back off.
        errors = [line for line in cluster.logs("dispatcher").splitlines() if " ERROR " in line]
        assert len(errors) <= 2, "\n".join(errors)
    finally:
        cluster.stop_all()
        own_redis.stop()


async def test_postgres_restarted_pauses_the_work_no_longer_than_a_lease(
    cluster: Cluster, acme: TenantFixture, postgres: PostgresServer | None
):
    if postgres is None:
        pytest.skip("the tests cannot restart a PostgreSQL server of your own")
    records = 4000
    await start_workers(cluster, "worker-1", "worker-2")
    cluster.start_dispatcher()
    job = await start(acme, "test.counted", records=records, stepMs=6, chunk_size=100)
    await wait_for_records(job, 500)

    restarted = time.monotonic()
    # In threads, so that this process's own connections see theirs end, as a running service's do.
    await asyncio.to_thread(postgres.stop, "fast")
    await asyncio.to_thread(postgres.start)
    outage = timedelta(seconds=time.monotonic() - restarted)
    back = utcnow()
    print(f"\nPostgreSQL restarted in {seconds(outage)}")

    job = await finished_once_each(job, records)
    pause = await longest_pause_after(job, back)
    print(f"longest pause after PostgreSQL came back: {seconds(pause)}")
    assert pause <= LEASE + GRACE


async def test_the_dispatcher_leader_killed_hands_over_to_the_one_standing_by(
    cluster: Cluster, acme: TenantFixture
):
    records = 3000
    await start_workers(cluster, "worker")
    first = cluster.start_dispatcher("dispatcher-1")
    second = cluster.start_dispatcher("dispatcher-2")
    redis = Redis.from_url(cluster.redis_url)

    async def leader_pid() -> int | None:
        """The leader's pid once both dispatchers are up (dispatcher ids are "<host>-<pid>-<id>")."""
        if len([name async for name in redis.scan_iter(match=keys.dispatcher("*"))]) < 2:
            return None
        leader = await redis.get(keys.DISPATCHER_LEADER)
        return int(leader.decode().rsplit("-", 2)[1]) if leader else None

    job = await start(acme, "test.counted", records=records, stepMs=4, chunk_size=50)
    await wait_for_records(job, 300)
    pid = await wait_until(leader_pid, timeout=60, what="two dispatchers, one leading")
    await redis.aclose()
    assert pid in (first.pid, second.pid)
    killed = utcnow()
    cluster.kill("dispatcher-1" if pid == first.pid else "dispatcher-2")
    # A job started after the kill needs the new leader to enumerate it.
    later = await start(acme, "test.counted", records=200, stepMs=1, chunk_size=50)

    await finished_once_each(job, records)
    later = await finished_once_each(later, 200)
    pause = await longest_pause_after(job, killed)
    took = later.started_at - later.created_at
    print(f"\nleader killed: longest pause {seconds(pause)}, a job started after it waited {seconds(took)}")
    # The dead leader's claim on leadership outlives it by at most its term.
    assert took <= timedelta(seconds=LEADER_SECONDS) + GRACE


async def test_workers_killed_in_a_loop_lose_nothing_and_double_nothing(cluster: Cluster, acme: TenantFixture):
    records = 20_000
    await start_workers(cluster, "worker-0", "steady")
    cluster.start_dispatcher()
    job = await start(acme, "test.counted", records=records, stepMs=1, chunk_size=200)
    for round_ in range(3):
        await wait_for_records(job, (round_ + 1) * records // 5, timeout=90)
        await worker_holding_chunks(cluster, f"worker-{round_}", job)
        cluster.kill(f"worker-{round_}")
        await start_workers(cluster, f"worker-{round_ + 1}")
    job = await finished_once_each(job, records, timeout=180)
    rerun = await Chunk.filter(job_id=job.id, attempts__gte=2).count()
    print(f"\n3 workers killed: {rerun} chunks ran again, {job.done} outcomes for {records} records")
    assert rerun >= 3


async def test_stop_then_every_worker_killed_then_resume_finishes_the_job(cluster: Cluster, acme: TenantFixture):
    records = 3000
    await start_workers(cluster, "worker-1", "worker-2")
    cluster.start_dispatcher()
    job = await start(acme, "test.counted", records=records, stepMs=4, chunk_size=100)
    await wait_for_records(job, 300)
    await stop_job(acme.actor(Role.OPERATOR), job.id)
    cluster.kill("worker-1")
    cluster.kill("worker-2")
    job = await wait_for_status(job, JobStatus.STOPPED, timeout=LEASE.total_seconds() + 30)
    assert job.done < records

    await resume_job(acme.actor(Role.OPERATOR), job.id)
    await start_workers(cluster, "worker-3")
    await finished_once_each(job, records)


async def test_an_api_process_restarted_under_job_updated_subscribers_loses_them_no_event(
    cluster: Cluster, acme: TenantFixture
):
    apis = await start_deployment(cluster)
    # Far longer than the restart (20 ms a record on 8 slots: 50 s at the least); stopped after it.
    job = await start(acme, "test.counted", records=20_000, stepMs=20, chunk_size=100)
    watchers = subscribers(apis, (await create_token(acme.tenant.slug, Role.VIEWER)).token, job, 12)
    on_the_restarted = [watcher for watcher in watchers if watcher.urls[0] == ws_url(apis[0])]
    admin = acme.actor(Role.ADMIN)

    async with running(watchers):
        await wait_for_records(job, 200)
        for watcher in watchers:
            await watcher.wait_for(2, timeout=30)  # the replayed CREATED, then RUNNING
        stopped = time.time()
        await asyncio.to_thread(cluster.kill, "api-0", signal.SIGTERM)
        # While it is away, the job's history moves on: what its subscribers must not miss.
        await set_job_low_priority(admin, job.id, True)
        await set_job_low_priority(admin, job.id, False)
        await asyncio.to_thread(cluster.start_api, cluster.api_ports["api-0"], "api-0")

        async def all_back() -> list[float]:
            back = [watcher.back_at(1) for watcher in on_the_restarted]
            return [] if None in back else back

        back = await wait_until(all_back, timeout=60, what="the restarted process's subscribers to get events again")
        recovery = timedelta(seconds=max(back) - stopped)
        await stop_job(acme.actor(Role.OPERATOR), job.id)
        job = await wait_for_status(job, JobStatus.STOPPED)
        await gap_free(watchers, job)

    went_to = [watcher.connections[1] == watcher.connections[0] for watcher in on_the_restarted]
    print(
        f"\nAPI process restarted under {len(on_the_restarted)} of {len(watchers)} subscribers: all had events "
        f"again {seconds(recovery)} after its SIGTERM ({went_to.count(False)} reconnected to the other process, "
        f"{went_to.count(True)} to the restarted one), none missed or repeated"
    )
    assert all(len(watcher.connections) == 2 for watcher in on_the_restarted)
    assert all(len(watcher.connections) == 1 for watcher in watchers if watcher not in on_the_restarted)
    assert recovery <= LEASE + GRACE
