"""``jobtower api --workers 2``: two API processes share the port, and either answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from domain.access import Role
from domain.tenants import create_token
from tests.cli import clean_environment
from tests.cluster import REPO, wait_until
from tests.gql.conftest import redis_url  # noqa: F401 - the fixture
from tests.services import free_port, wait_for_port

pytestmark = pytest.mark.usefixtures("database")


def children(pid: int) -> list[int]:
    """The API processes uvicorn started (multiprocessing's spawned children)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        command = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in command:
            found.append(int(child))
    return found


@pytest.fixture
def two_workers(database: str, request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[tuple[int, int]]:  # noqa: F811
    port = free_port()
    env = clean_environment() | {
        "DATABASE_URL": request.getfixturevalue(f"{database}_url"),
        "REDIS_URL": redis_url,
        "JOBTOWER_JOB_TYPES": json.dumps(["tests.job_types"]),
        "PYTHONUNBUFFERED": "1",
    }
    with open(tmp_path / "api.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobtower.cli", "api", "--port", str(port), "--workers", "2"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=60)
        yield process.pid, port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_two_api_processes_answer_and_one_answers_while_the_other_is_gone(two_workers, acme):
    pid, port = two_workers
    token = (await create_token(acme.tenant.slug, Role.VIEWER, "viewer")).token
    headers = {"authorization": f"Bearer {token}"}

    async def answers() -> bool:
        # A new connection each time: the kernel hands it to whichever process accepts first.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            response = await client.post("/graphql", json={"query": "{ viewer { role } }"}, headers=headers)
        return response.json() == {"data": {"viewer": {"role": "VIEWER"}}}

    async def both_started() -> list[int]:
        started = children(pid)
        return started if len(started) == 2 and await answers() else []

    first, second = await wait_until(both_started, timeout=60, what="two API processes")
    os.kill(first, signal.SIGKILL)

    assert all([await answers() for _ in range(5)])
    assert second in children(pid)
