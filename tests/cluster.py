"""Real Jobtower processes for end-to-end tests and benchmarks: workers and a dispatcher.

Each process is the real ``jobtower`` command with the environment a user would
give it; tests kill them with real signals.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from jobtower.settings import settings
from tests.cli import clean_environment
from tests.services import free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent

# Short leases so recovery shows within seconds; the same code paths as production.
FAST_SETTINGS = {
    "lease_seconds": 3,
    "heartbeat_seconds": 0.3,
    "queue_lease_seconds": 5,
    "dispatch_interval_seconds": 0.05,
    "flush_seconds": 0.2,
    "flush_records": 100,
}


@dataclass
class Cluster:
    database_url: str
    redis_url: str
    log_dir: Path
    # JOBTOWER_* settings for every process, e.g. {"lease_seconds": 2}.
    settings: dict[str, object] = field(default_factory=dict)
    job_type_modules: tuple[str, ...] = ("jobtower.demo", "tests.job_types")
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The port of each API process by name, kept over a restart.
    api_ports: dict[str, int] = field(default_factory=dict)

    def env(self, **overrides: object) -> dict[str, str]:
        env = clean_environment()
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            JOBTOWER_JOB_TYPES=json.dumps(list(self.job_type_modules)),
            # The processes open the ids this one seals, whichever secret it found first (a
            # benchmark reads the data dir's before tests/__init__ sets the session's).
            JOBTOWER_ID_SECRET=settings.resolved_id_secret().decode(),
            PYTHONUNBUFFERED="1",
        )
        for key, value in {**self.settings, **overrides}.items():
            env[f"JOBTOWER_{key.upper()}"] = str(value)
        return env

    def start(self, name: str, command: str, *args: str, **overrides: object) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "jobtower.cli", command, *args],
            cwd=REPO,
            env=self.env(**overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def start_worker(self, name: str = "worker", **overrides: object) -> subprocess.Popen[bytes]:
        return self.start(name, "worker", **overrides)

    def start_dispatcher(self, name: str = "dispatcher", **overrides: object) -> subprocess.Popen[bytes]:
        return self.start(name, "dispatcher", **overrides)

    def start_api(self, port: int, name: str = "api", **overrides: object) -> subprocess.Popen[bytes]:
        """``jobtower api`` on ``port``, once it listens; started again on the same port, a
        client that was connected finds it where it was."""
        process = self._start_api(port, name, **overrides)
        wait_for_port(port, timeout=60)
        return process

    def start_apis(self, count: int = 2) -> list[str]:
        """``count`` API processes of one deployment, ``api-0``…, each on a port of its own
        (as behind a load balancer), once all listen; their base URLs. They start side by side."""
        names = [f"api-{which}" for which in range(count)]
        for name in names:
            self._start_api(free_port(), name)
        for name in names:
            wait_for_port(self.api_ports[name], timeout=60)
        return [self.api_url(name) for name in names]

    def _start_api(self, port: int, name: str, **overrides: object) -> subprocess.Popen[bytes]:
        self.api_ports[name] = port
        return self.start(name, "api", "--host", "127.0.0.1", "--port", str(port), **overrides)

    def api_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.api_ports[name]}"

    def kill(self, name: str, signum: int = signal.SIGKILL, timeout: float = 60) -> int:
        process = self.processes.pop(name)
        process.send_signal(signum)
        return process.wait(timeout=timeout)

    def stop_all(self) -> None:
        """SIGTERM to every process; one still running 30 s later is killed. One that had to be
        killed, or that SIGTERM ended with an error, is said so with the end of its log (a
        warning: the test's own checks decide whether it passes)."""
        asked = {name for name, process in self.processes.items() if process.poll() is None}
        for name in asked:
            self.processes[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for name in asked:
            process = self.processes[name]
            try:
                code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
                said = f"exited with status {code} on SIGTERM"
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code, said = None, "was still running 30 s after SIGTERM"
            if code not in (0, -signal.SIGTERM):  # uvicorn ends by raising the signal it handled
                tail = "\n".join(self.logs(name).splitlines()[-60:])
                warnings.warn(f"{name} {said}; its log ends:\n{tail}", stacklevel=2)
        self.processes.clear()

    def logs(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def listening(env: dict[str, str], log: Path, command: str, *args: str, timeout: float = 60) -> Iterator[int]:
    """``jobtower <command> <args>`` on a free local port, once it listens; yields the port and
    stops it with SIGTERM afterwards."""
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobtower.cli", command, "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=timeout)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def api_process(env: dict[str, str], log: Path, workers: int = 1) -> AbstractContextManager[int]:
    """``jobtower api`` served by uvicorn (``workers`` processes); yields the port."""
    return listening(env, log, "api", "--workers", str(workers))


async def wait_until(
    condition: Callable[[], Awaitable[object]], *, timeout: float = 30, interval: float = 0.05, what: str = ""
) -> object:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(interval)
