"""``jobtower alive worker|dispatcher``, the containers' health check, answers for the processes of its host."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

from tests.cluster import REPO, Cluster, wait_until

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


async def alive(cluster: Cluster, role: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "jobtower.cli", "alive", role],
        cwd=REPO,
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def answers(cluster: Cluster, role: str, code: int) -> bool:
    return (await alive(cluster, role)).returncode == code


async def test_alive_answers_while_the_process_runs_and_fails_once_it_stops(cluster: Cluster) -> None:
    for role in ("worker", "dispatcher"):
        before = await alive(cluster, role)
        assert before.returncode == 1 and f"no live {role} on this host" in before.stderr

    cluster.start_worker()
    await wait_until(lambda: answers(cluster, "worker", 0), timeout=60, interval=0.5, what="a live worker")
    assert (await alive(cluster, "dispatcher")).returncode == 1

    cluster.start_dispatcher()
    await wait_until(lambda: answers(cluster, "dispatcher", 0), timeout=60, interval=0.5, what="a live dispatcher")

    assert cluster.kill("worker", signal.SIGTERM) == 0
    assert cluster.kill("dispatcher", signal.SIGTERM) == 0
    assert (await alive(cluster, "worker")).returncode == 1
    assert (await alive(cluster, "dispatcher")).returncode == 1


async def test_a_hung_process_reads_as_dead_once_its_presence_expires(cluster: Cluster) -> None:
    process = cluster.start_dispatcher()
    await wait_until(lambda: answers(cluster, "dispatcher", 0), timeout=60, interval=0.5, what="a live dispatcher")
    process.send_signal(signal.SIGSTOP)
    try:
        await wait_until(lambda: answers(cluster, "dispatcher", 1), timeout=30, interval=0.5, what="a dead dispatcher")
    finally:
        process.send_signal(signal.SIGCONT)


async def test_without_redis_it_says_so_and_fails(cluster: Cluster) -> None:
    cluster.redis_url = "redis://127.0.0.1:1/0"
    result = await alive(cluster, "worker")
    assert result.returncode == 1 and "Redis unreachable" in result.stderr
