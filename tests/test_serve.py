"""``jobtower serve`` the way the quick start runs it: one command, a job runs, and SIGTERM ends it all."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli import clean_environment, console_script
from tests.services import free_port, wait_for_port

START_SECONDS = 60
STOP_SECONDS = 60

START_NOOP = """
mutation { startJob(input: {type: "noop", name: "quick start", params: {records: 200, steps: 2}}) {
  ... on JobStarted { job { id } }
  ... on Error { code message }
} }
"""
JOB = "query ($id: ID!) { job(id: $id) { status progress { done total } } }"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [console_script("jobtower"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=clean_environment() | {"JOBTOWER_DATA_DIR": str(tmp_path / "data")},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for_port(port, timeout=START_SECONDS)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_serve_runs_a_job_and_sigterm_stops_its_workers_and_redis(served) -> None:
    process, port, log = served
    printed = log.read_text()
    assert f"http://127.0.0.1:{port}/" in printed
    token = re.search(r"Admin token for tenant demo: (\S+)", printed)
    assert token, printed

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        assert http.get("/readyz").json() == {"ready": True, "database": "ok", "redis": "ok"}
        home = http.get("/", headers={"accept": "text/html"})
        assert home.status_code == 200 and "<title>Jobtower</title>" in home.text
        auth = {"authorization": f"Bearer {token.group(1)}"}
        started = http.post("/graphql", json={"query": START_NOOP}, headers=auth).json()
        job_id = started["data"]["startJob"]["job"]["id"]
        deadline = time.monotonic() + START_SECONDS
        while True:
            job = http.post("/graphql", json={"query": JOB, "variables": {"id": job_id}}, headers=auth).json()
            if job["data"]["job"]["status"] == "FINISHED" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert job["data"]["job"] == {"status": "FINISHED", "progress": {"done": 200, "total": 200}}

    spawned = children(process.pid)
    # Two workers and the embedded Redis server.
    assert len(spawned) == 3, spawned
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=STOP_SECONDS)
    assert [pid for pid in spawned if running(pid)] == [], log.read_text()
    assert "Traceback" not in log.read_text()
