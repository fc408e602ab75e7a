"""``jobtower serve`` the way the quick start runs it: one command, a job runs, a worker that dies is
replaced, and SIGTERM ends it all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import redis

from tests.cli import clean_environment, console_script
from tests.services import free_port, wait_for_port
from workers import keys

START_SECONDS = 60
STOP_SECONDS = 60

START_NOOP = """
mutation { startJob(input: {type: "noop", name: "quick start", params: {records: 200, steps: 2}}) {
  ... on JobStarted { job { id } }
  ... on Error { code message }
} }
"""
JOB = "query ($id: ID!) { job(id: $id) { status progress { done total } } }"
WORKERS_ONLINE = "{ liveOps { workersOnline } }"
SERVE_WORKERS = 2

T = TypeVar("T")


@contextmanager
def serving(
    folder: Path, log: Path, settings: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """``jobtower serve`` run in ``folder`` with its data in ``folder/data``, writing to ``log``;
    ``settings``: more of its environment."""
    port = free_port()
    with open(log, "w") as output:
        process = subprocess.Popen(
            [console_script("jobtower"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=clean_environment()
            | {"JOBTOWER_DATA_DIR": str(folder / "data"), "JOBTOWER_SERVE_WORKERS": str(SERVE_WORKERS)}
            | (settings or {}),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            # A process group of its own, as a terminal gives it: Ctrl-C reaches the whole group.
            start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=START_SECONDS)
        yield process, port, log
    finally:
        if process.poll() is None:
            # Asked first, so that a failed test leaves no workers or Redis behind.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    with serving(tmp_path, tmp_path / "serve.log") as started:
        yield started


def children(pid: int) -> list[int]:
    # Each thread lists the children it started; serve starts replacement workers from threads.
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return sorted(found)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except FileNotFoundError:
        return []


def worker_pids(pid: int) -> set[int]:
    return {child for child in children(pid) if running(child) and command_line(child)[-2:-1] == ["worker"]}


def redis_port(pid: int) -> int:
    """The port of the Redis server serve started; its process title reads ``redis-server HOST:PORT``."""
    for child in children(pid):
        title = " ".join(command_line(child))
        if listening := re.search(r"redis-server \S*:(\d+)", title):
            return int(listening.group(1))
    raise AssertionError("serve runs no redis-server")


def eventually(condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return result


def admin_headers(log: Path) -> dict[str, str]:
    token = re.search(r"Admin token for tenant demo: (\S+)", log.read_text())
    assert token, log.read_text()
    return {"authorization": f"Bearer {token.group(1)}"}


def run_noop(http: httpx.Client, auth: dict[str, str]) -> dict:
    started = http.post("/graphql", json={"query": START_NOOP}, headers=auth).json()
    job_id = started["data"]["startJob"]["job"]["id"]

    def finished() -> dict | None:
        job = http.post("/graphql", json={"query": JOB, "variables": {"id": job_id}}, headers=auth).json()
        return job["data"]["job"] if job["data"]["job"]["status"] == "FINISHED" else None

    return eventually(finished, START_SECONDS, f"job {job_id} to finish")


def stop_and_check_everything_ended(process: subprocess.Popen[str], log: Path, *, whole_group: bool = False) -> None:
    """SIGTERM to serve, or to its whole process group (Ctrl-C in a terminal, a supervisor
    stopping ``make serve``), ends every process it started, and nothing fails on the way."""
    spawned = children(process.pid)
    # The workers and the embedded Redis server.
    assert len(spawned) == SERVE_WORKERS + 1, spawned
    if whole_group:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        process.send_signal(signal.SIGTERM)
    process.wait(timeout=STOP_SECONDS)
    assert [pid for pid in spawned if running(pid)] == [], log.read_text()
    assert "Traceback" not in log.read_text()


def test_serve_runs_a_job_and_sigterm_stops_its_workers_and_redis(served) -> None:
    process, port, log = served
    assert f"http://127.0.0.1:{port}/" in log.read_text()
    auth = admin_headers(log)

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        assert http.get("/readyz").json() == {"ready": True, "database": "ok", "redis": "ok"}
        home = http.get("/", headers={"accept": "text/html"})
        assert home.status_code == 200 and "<title>Jobtower</title>" in home.text
        assert run_noop(http, auth) == {"status": "FINISHED", "progress": {"done": 200, "total": 200}}

    stop_and_check_everything_ended(process, log)


def test_serve_runs_a_job_at_once_with_its_dispatchers_rounds_an_hour_apart(tmp_path: Path) -> None:
    """The API wakes the dispatcher that runs beside it in serve: once the workers are up (a
    round goes by as serve starts), a job runs without another."""
    rounds = {"JOBTOWER_DISPATCH_INTERVAL_SECONDS": "3600"}
    with serving(tmp_path, tmp_path / "serve.log", rounds) as (process, port, log):
        auth = admin_headers(log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

            def workers_online() -> bool:
                online = http.post("/graphql", json={"query": WORKERS_ONLINE}, headers=auth).json()
                return online["data"]["liveOps"]["workersOnline"] == SERVE_WORKERS

            eventually(workers_online, START_SECONDS, "serve's workers online")
            assert run_noop(http, auth) == {"status": "FINISHED", "progress": {"done": 200, "total": 200}}
        stop_and_check_everything_ended(process, log)


def test_sigterm_to_serves_process_group_stops_it_with_no_errors(served) -> None:
    process, port, log = served
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        assert run_noop(http, admin_headers(log))["status"] == "FINISHED"

    stop_and_check_everything_ended(process, log, whole_group=True)


def test_serve_replaces_a_worker_that_died_and_work_still_runs(served) -> None:
    process, port, log = served
    auth = admin_headers(log)
    first_workers = eventually(lambda: worker_pids(process.pid), START_SECONDS, "serve's workers")
    assert len(first_workers) == SERVE_WORKERS
    presence = redis.Redis(port=redis_port(process.pid))

    def announced_pids() -> set[int]:
        # A worker's id is host-pid-random.
        names = presence.scan_iter(match=keys.WORKER_PATTERN)
        return {int(name.decode().rsplit("-", 2)[1]) for name in names}

    killed = min(first_workers)
    os.kill(killed, signal.SIGKILL)

    def replaced() -> set[int] | None:
        live = worker_pids(process.pid)
        return live if len(live) == SERVE_WORKERS and killed not in live else None

    workers = eventually(replaced, 15, "a new worker in place of the killed one")
    # The dead worker's presence expires; the new one announces itself.
    eventually(lambda: announced_pids() == workers, 30, f"the presence of workers {workers} only")
    presence.close()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        online = http.post("/graphql", json={"query": WORKERS_ONLINE}, headers=auth).json()
        assert online["data"]["liveOps"]["workersOnline"] == SERVE_WORKERS
        assert run_noop(http, auth) == {"status": "FINISHED", "progress": {"done": 200, "total": 200}}
    assert re.search(rf"worker pid {killed} was killed by SIGKILL", log.read_text()), log.read_text()

    stop_and_check_everything_ended(process, log)


def test_the_admin_token_is_shown_on_the_first_start_only_and_never_kept_in_plain_text(tmp_path: Path) -> None:
    with serving(tmp_path, tmp_path / "first.log") as (process, port, log):
        auth = admin_headers(log)
        stop_and_check_everything_ended(process, log)
    token = auth["authorization"].removeprefix("Bearer ")
    kept = [path for path in (tmp_path / "data").rglob("*") if path.is_file() and token.encode() in path.read_bytes()]
    assert kept == []

    with serving(tmp_path, tmp_path / "second.log") as (process, port, log):
        said = log.read_text()
        assert token not in said and "Admin token" not in said
        assert "Make a token to sign in with: jobtower token create --tenant demo --role ADMIN" in said
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            # The token shown on the first start still works.
            viewer = http.post("/graphql", json={"query": "{ viewer { role } }"}, headers=auth).json()
            assert viewer == {"data": {"viewer": {"role": "ADMIN"}}}
