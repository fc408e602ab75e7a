"""What the processes log: JSON lines for a log pipeline when asked, and a request id that
links a client's request to the server's entries."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from domain.statuses import JobStatus

from tests.cli import clean_environment
from tests.cluster import Cluster, api_process
from tests.workers.support import start, wait_for_status

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


def json_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the process logged nothing"
    return [json.loads(line) for line in lines]  # raises on any line that is not JSON


def test_the_api_logs_json_lines_and_answers_with_the_request_id(
    database: str, request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
):
    env = clean_environment() | {
        "DATABASE_URL": request.getfixturevalue(f"{database}_url"),
        "REDIS_URL": redis_url,
        "JOBTOWER_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "api.log"
    with api_process(env, log) as port:
        base = f"http://127.0.0.1:{port}"
        given = httpx.get(f"{base}/healthz", headers={"X-Request-Id": "client-42"})
        made = httpx.get(f"{base}/healthz")
        unsafe = httpx.get(f"{base}/healthz", headers={"X-Request-Id": "a b\tc" * 30})

    assert given.headers["x-request-id"] == "client-42"
    assert len(made.headers["x-request-id"]) >= 8
    assert made.headers["x-request-id"] != unsafe.headers["x-request-id"] != "a b\tc" * 30
    entries = json_lines(log.read_text())
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)


async def test_a_worker_logs_json_lines(cluster: Cluster, acme):
    cluster.start_worker(log_format="json")
    cluster.start_dispatcher(log_format="json")
    job = await start(acme, "test.plain", records=20, chunk_size=5)
    await wait_for_status(job, JobStatus.FINISHED)
    cluster.stop_all()
    for name in ("worker", "dispatcher"):
        assert all(entry["level"] in {"INFO", "WARNING"} for entry in json_lines(cluster.logs(name))), name
