"""``jobtower serve``: API, dispatcher and workers in one command, on the embedded default.

With no configuration it keeps SQLite and a Redis server of its own in the data
folder, so the default runs the same code path as production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import ExitStack

import uvicorn

from domain import db
from domain.registry import registry
from jobtower.app import create_app
from jobtower.seed import seed_demo
from jobtower.settings import Settings
from workers.redis_server import EmbeddedRedis


# WebSocket messages are small JSON events fanned out to many clients: per-message
# compression would cost a zlib context per connection and CPU per message and client.
WS_DEFLATE = False


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
        workers = [
            subprocess.Popen([sys.executable, "-m", "jobtower.cli", "worker"], env=env)
            for _ in range(settings.serve_workers)
        ]
        stack.callback(_stop_processes, workers)
        print(f"Jobtower console: http://{host}:{port}/", flush=True)
        print(f"Admin token for tenant demo: {token}", flush=True)
        serve_api(settings, redis_url, host, port, dispatch=True)


async def _seed(settings: Settings) -> str:
    registry.load(settings.job_types)
    async with db.database(settings.resolved_database_url):
        return await seed_demo(settings.data_dir)


def serve_api(settings: Settings, redis_url: str, host: str, port: int, *, dispatch: bool = False) -> None:
    uvicorn.run(
        create_app(settings, redis_url, dispatch=dispatch),
        host=host,
        port=port,
        log_level="info",
        ws_per_message_deflate=WS_DEFLATE,
    )


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
