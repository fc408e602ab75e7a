"""A worker stopped with SIGTERM: what it enumerates or has just claimed is handed over at once,
not once its hold runs out, and it exits soon and cleanly; one that cannot end cleanly still
ends, and says why."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from redis.asyncio import Redis

from domain.access import Role
from domain.models import Chunk
from domain.statuses import ChunkStatus, RecordStatus
from jobtower.settings import Settings
from tests.cluster import FAST_SETTINGS, Cluster, wait_until
from tests.conftest import TenantFixture
from tests.job_types import executions_key
from tests.domain import scenarios
from tests.workers.deployment import finished_once_each, start_workers
from tests.workers.support import discard_open_jobs, start
from workers.progress import ProgressPublisher
from workers.runtime import WorkerRuntime
from workers.tasks import take_free_slot
from workers.worker import SHUTDOWN_SECONDS

# The stopped worker holds its enumeration this long: far longer than the hand-over may take.
HOLD_SECONDS = 60
RECORDS = 1500


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
async def test_a_worker_stopped_while_it_enumerates_hands_the_enumeration_over_at_once(
    cluster: Cluster, acme: TenantFixture
):
    cluster.start_dispatcher()
    cluster.start_worker("stopped", lease_seconds=HOLD_SECONDS)
    # 2 ms a key: the enumeration takes 3 s, and is under way when the worker is stopped.
    job = await start(acme, "test.counted", records=RECORDS, keyMs=2, chunk_size=10)

    async def under_way() -> bool:
        return await Chunk.filter(job_id=job.id).count() >= 3

    await wait_until(under_way, timeout=60, what="the enumeration to be under way")
    asked = time.monotonic()
    code = await asyncio.to_thread(cluster.kill, "stopped", signal.SIGTERM)
    exited = time.monotonic() - asked
    log = cluster.logs("stopped")
    assert code == 0 and exited < 10, f"exit {code} after {exited:.1f} s:\n{log[-3000:]}"
    assert "Traceback" not in log, log[-3000:]

    await start_workers(cluster, "next")
    await finished_once_each(job, RECORDS, timeout=HOLD_SECONDS / 2)
    print(f"\nstopped while enumerating: exited in {exited:.1f} s; the next worker finished the job")


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
async def test_a_chunk_claimed_as_its_worker_begins_to_drain_is_given_back_at_once(
    acme: TenantFixture, redis: Redis
):
    await discard_open_jobs()  # the claim takes the fairest ready chunk of the whole database
    job = await scenarios.start(acme.actor(Role.ADMIN))
    chunk = await scenarios.add_chunk(job, 0, ChunkStatus.PENDING, [RecordStatus.PENDING] * 3)

    async def no_notices(count: int) -> None:
        pass

    runtime = WorkerRuntime(
        worker_id="draining",
        settings=Settings(),
        redis=redis,
        publisher=ProgressPublisher(redis),
        chunks_ready=no_notices,
    )
    # A slot of the worker claims the chunk just enumerated; the worker is stopped meanwhile.
    claiming = asyncio.create_task(take_free_slot(runtime))
    await asyncio.sleep(0)  # the claim is under way
    runtime.draining.set()
    assert await claiming
    await asyncio.gather(*runtime.own_slots)

    after = await Chunk.get(id=chunk.id)
    assert (after.status, after.lease_owner, after.cursor) == (ChunkStatus.PENDING, None, chunk.cursor)
    assert not runtime.busy()
    await discard_open_jobs()


async def test_a_worker_whose_step_will_not_be_cancelled_still_ends_after_sigterm_and_says_where(
    cluster: Cluster, acme: TenantFixture, redis: Redis
):
    cluster.start_dispatcher()
    cluster.start_worker("stuck")
    job = await start(acme, "test.stubborn", records=1)
    await wait_until(lambda: redis.hget(executions_key(job.id), "0"), timeout=30, what="the step to start")

    asked = time.monotonic()
    code = await asyncio.to_thread(cluster.kill, "stuck", signal.SIGTERM)
    ended = time.monotonic() - asked

    log = cluster.logs("stuck")
    # It drains for a lease, then gives its shutdown twice SHUTDOWN_SECONDS.
    assert code == 1 and ended < FAST_SETTINGS["lease_seconds"] + 2 * SHUTDOWN_SECONDS + 5, (code, ended)
    # What it waited for: a record's step.
    assert "has not shut down" in log and "_run_step" in log, log[-3000:]
