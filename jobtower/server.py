"""``jobtower serve``: API, dispatcher and workers in one command, on the embedded default.

With no configuration it keeps SQLite and a Redis server of its own in the data
folder, so the default runs the same code path as production. It supervises
its worker processes: one that exits while serve runs is replaced, after a
pause that grows while replacements keep dying.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack

import uvicorn

from domain import db
from domain.registry import registry
from jobtower.app import create_app
from jobtower.http_protocol import GuardedH11Protocol
from jobtower.logging_setup import logging_config
from jobtower.seed import DEMO_SLUG, seed_demo
from jobtower.settings import Settings
from workers.redis_server import EmbeddedRedis

log = logging.getLogger(__name__)

# WebSocket messages are small JSON events fanned out to many clients: per-message
# compression would cost a zlib context per connection and CPU per message and client.
WS_DEFLATE = False

# Once SIGTERM has closed every connection, what their requests still run is cancelled this much
# later (uvicorn's default waits for it for good). A client that loses its WebSocket reconnects
# and resumes with ``afterSeq``; nothing is lost by not waiting longer.
GRACEFUL_SHUTDOWN_SECONDS = 10

# The demo admin token is printed on the first start only: a later start says how to get one.
NEW_TOKEN_COMMAND = f"jobtower token create --tenant {DEMO_SLUG} --role ADMIN --name NAME"


def serve(settings: Settings, host: str, port: int) -> None:
    # uvicorn stops gracefully on SIGTERM and then raises the signal again; with the default
    # handler that would end this process at once and leave its workers and Redis running.
    signal.signal(signal.SIGTERM, _exit)
    with ExitStack() as stack:
        redis_url = settings.redis_url
        if not redis_url:
            redis_url = stack.enter_context(EmbeddedRedis(settings.data_dir / "redis")).url
        asyncio.run(db.migrate(settings.resolved_database_url))
        token = asyncio.run(_seed(settings))
        env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": settings.resolved_database_url}
        workers = WorkerPool([sys.executable, "-m", "jobtower.cli", "worker"], env, settings.serve_workers)
        stack.callback(workers.stop)
        workers.start()
        print(f"Jobtower console: http://{host}:{port}/", flush=True)
        if token is not None:
            print(f"Admin token for tenant demo: {token} (shown once: keep it)", flush=True)
        else:
            print(f"Make a token to sign in with: {NEW_TOKEN_COMMAND}", flush=True)
        serve_api(settings, redis_url, host, port, dispatch=True)


async def _seed(settings: Settings) -> str | None:
    registry.load(settings.job_types)
    async with db.database(settings.resolved_database_url):
        return await seed_demo()


def serve_api(
    settings: Settings, redis_url: str, host: str, port: int, *, dispatch: bool = False, workers: int = 1
) -> None:
    """Serve the app; with ``workers`` above 1, that many API processes share the port (uvicorn's
    workers), each building its app from the environment's settings (``jobtower.app.from_settings``)."""
    options = {
        "host": host,
        "port": port,
        "log_level": "info",
        "log_config": logging_config(settings.log_format),
        "ws_per_message_deflate": WS_DEFLATE,
        # The app refuses a larger message too (gql.websocket); uvicorn's own limit keeps it
        # from reading one whole first.
        "ws_max_size": settings.max_request_bytes,
        "http": GuardedH11Protocol,
        # The version is nobody's business but the operator's.
        "server_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if workers > 1:
        uvicorn.run("jobtower.app:from_settings", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings, redis_url, dispatch=dispatch), **options)


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# A replacement waits this long, doubling after each one that dies young, up to the maximum.
FIRST_RESTART_SECONDS = 1.0
MAX_RESTART_SECONDS = 30.0
# A worker that ran this long was healthy: the next replacement waits the first pause again.
HEALTHY_SECONDS = 60.0
# A worker drains its chunks within its lease; this is the most it is given to exit.
STOP_SECONDS = 40.0


class WorkerPool:
    """``count`` worker processes, each watched by a thread that replaces it when it exits."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], count: int) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.count = count
        self._stopping = threading.Event()
        # Guards ``_processes`` against a replacement started while ``stop`` runs.
        self._lock = threading.Lock()
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._watchers: list[threading.Thread] = []

    def start(self) -> None:
        for slot in range(self.count):
            process = self._spawn(slot)
            if process is None:
                return
            watcher = threading.Thread(
                target=self._watch, args=(slot, process), name=f"worker-{slot}-watcher", daemon=True
            )
            watcher.start()
            self._watchers.append(watcher)

    def stop(self) -> None:
        """Ask every worker to drain and wait for them; kill the ones that take too long."""
        with self._lock:
            self._stopping.set()
            processes = list(self._processes.values())
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for watcher in self._watchers:
            watcher.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.poll() is None:
                log.warning("worker pid %d did not stop in %.0f s; killing it", process.pid, STOP_SECONDS)
                process.kill()
                process.wait()

    def _spawn(self, slot: int) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            # Its own process group: a Ctrl-C in the terminal reaches serve alone, which
            # then stops the workers in order instead of replacing them as they exit.
            process = subprocess.Popen(self.command, env=self.env, process_group=0)
            self._processes[slot] = process
            return process

    def _watch(self, slot: int, process: subprocess.Popen[bytes]) -> None:
        pause = FIRST_RESTART_SECONDS
        while True:
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            if ran >= HEALTHY_SECONDS:
                pause = FIRST_RESTART_SECONDS
            log.warning(
                "worker pid %d %s after %.1f s; starting another in %.0f s",
                process.pid, _exit_reason(code), ran, pause,
            )
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, MAX_RESTART_SECONDS)
            replacement = self._spawn(slot)
            if replacement is None:
                return
            log.info("worker pid %d replaces pid %d", replacement.pid, process.pid)
            process = replacement


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"
