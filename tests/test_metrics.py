"""``/metrics`` of a real ``jobtower api`` process on a fresh database and a real Redis.

The rows are written with plain SQL from outside the application, so every
figure the endpoint reports is known exactly.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from domain.clock import month_of, utcnow
from domain.statuses import JobStatus
from domain.models import Job, JobCountChange
from domain.partitions import shared_partition
from jobtower.metrics import Metrics, RequestMetricsMiddleware, folding_job_counts
from tests.cluster import REPO, wait_until
from tests.cli import Jobtower, clean_environment, console_script
from tests.databases import fetch_rows, fresh_postgres_database
from tests.services import free_port
from workers import keys
from workers.redis_server import EmbeddedRedis

STARTUP_SECONDS = 30
MINUTE = timedelta(minutes=1)
# Not a registered type: the default stall threshold of five minutes applies.
TYPE = "metrics.sample"
STATUSES = [status.value for status in JobStatus]
WAITS = "jobtower_jobs_started_last_hour_wait_seconds"
METRICS_TOKEN = "scraper-secret"
SCRAPER = {"authorization": f"Bearer {METRICS_TOKEN}"}
# How long a snapshot of the job figures serves scrapes in this module's API.
CACHE_SECONDS = 1.0
TAKEN_AT = "jobtower_job_figures_taken_at_seconds"
# The queue depth by tenant names this many tenants in this module's API.
TOP_TENANTS = 1
OLDEST_READY = timedelta(minutes=5)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedRedis(tmp_path_factory.mktemp("metrics-redis")) as server:
        yield server.url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def jobtower(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Jobtower]:
    """A freshly migrated database, on each backend; only one test of this module writes to it."""
    tmp_path = tmp_path_factory.mktemp(f"metrics-{request.param}")
    if request.param == "sqlite":
        command = Jobtower(data_dir=tmp_path)
        assert command("migrate").returncode == 0
        yield command
        return
    async with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        command = Jobtower(data_dir=tmp_path, postgres_url=url)
        assert command("migrate").returncode == 0
        yield command


@dataclass
class Api:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def api(jobtower: Jobtower, redis_url: str) -> Iterator[Api]:
    """``jobtower api`` on a free port, against that database and Redis."""
    port = free_port()
    env = clean_environment() | {
        "JOBTOWER_DATA_DIR": str(jobtower.data_dir),
        "REDIS_URL": redis_url,
        "JOBTOWER_METRICS_TOKEN": METRICS_TOKEN,
        "JOBTOWER_METRICS_CACHE_SECONDS": str(CACHE_SECONDS),
        "JOBTOWER_METRICS_TOP_TENANTS": str(TOP_TENANTS),
    }
    if jobtower.postgres_url:
        env["DATABASE_URL"] = jobtower.postgres_url
    process = subprocess.Popen(
        [console_script("jobtower"), "api", "--port", str(port)],
        cwd=jobtower.data_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(jobtower.data_dir / "api.log").open("wb"),
    )
    running = Api(url=f"http://127.0.0.1:{port}", process=process, log=jobtower.data_dir / "api.log")
    try:
        _wait_until_healthy(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(api: Api) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if api.process.poll() is not None:
            raise RuntimeError(f"jobtower api exited during startup:\n{api.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{api.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"jobtower api did not answer /healthz in {STARTUP_SECONDS}s")


# ---------------------------------------------------------------- plain SQL rows


class Rows:
    """Inserts rows the way the application stores them, on either backend."""

    def __init__(self, jobtower: Jobtower) -> None:
        self.jobtower = jobtower
        self.sqlite = jobtower.postgres_url is None

    async def insert(self, table: str, **values: Any) -> int:
        columns = ", ".join(f'"{name}"' for name in values)
        placeholders = ", ".join(f"${n}" for n in range(1, len(values) + 1))
        sql = f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders}) RETURNING id'
        args = [self._value(value) for value in values.values()]
        if self.sqlite:
            path = self.jobtower.database_url.removeprefix("sqlite://")
            with closing(sqlite3.connect(path)) as connection, connection:
                sqlite_sql = sql.replace("$", "?")
                return connection.execute(sqlite_sql, args).fetchone()[0]
        connection = await asyncpg.connect(self.jobtower.postgres_url)
        try:
            return await connection.fetchval(sql, *args)
        finally:
            await connection.close()

    def _value(self, value: Any) -> Any:
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, datetime) and self.sqlite:
            return value.isoformat(sep=" ")
        return value

    async def tenant(self, slug: str) -> int:
        return await self.insert("tenant", slug=slug, name=slug, created_at=datetime.now(UTC))

    async def partition(self) -> int:
        """The storage partition the migration made for this week's jobs."""
        [(partition,)] = await fetch_rows(self.jobtower.database_url, "SELECT MIN(id) FROM storage_partition")
        return partition

    async def job(
        self,
        tenant_id: int,
        status: str,
        created: datetime,
        wait: timedelta | None = None,
        *,
        progress: datetime | None = None,
        ended: datetime | None = None,
        done: int = 0,
        hidden: bool = False,
        system: bool = False,
    ) -> int:
        return await self.insert(
            "job",
            tenant_id=tenant_id,
            partition_id=await self.partition(),
            type=TYPE,
            name=TYPE,
            status=status,
            params={},
            chunk_size=10,
            system=system,
            stoppable=True,
            restartable=True,
            low_priority=False,
            hidden=hidden,
            retry_failed=False,
            step_names=["work"],
            enumerated=True,
            seq=1,
            created_at=created,
            started_at=created + wait if wait is not None else None,
            ended_at=ended,
            last_progress_at=progress,
            done=done,
            succeeded=done,
            failed=0,
            skipped=0,
            error_logs=0,
        )

    async def chunks(self, job_id: int, *statuses: str, ready: datetime | None = None) -> None:
        for index, status in enumerate(statuses):
            await self.insert(
                "chunk",
                job_id=job_id,
                index=index,
                status=status,
                range_start=index * 10,
                range_end=index * 10 + 10,
                cursor=index * 10,
                keys=[],
                attempts=0,
                done=0,
                succeeded=0,
                failed=0,
                skipped=0,
                ready_at=ready,
            )

    async def usage(self, tenant_id: int, month: str, records: int) -> None:
        await self.insert("plan_usage", tenant_id=tenant_id, month=month, jobs_used=1, records_used=records)


async def seed(rows: Rows, now: datetime) -> None:
    a, b = await rows.tenant("alpha"), await rows.tenant("beta")
    # Stalled: no progress for ten minutes.
    await rows.job(a, "RUNNING", now - 20 * MINUTE, timedelta(seconds=2), progress=now - 10 * MINUTE)
    moving = await rows.job(a, "RUNNING", now - 10 * MINUTE, timedelta(seconds=45), progress=now)
    await rows.chunks(moving, "RUNNING", "PENDING", "PENDING", ready=now - MINUTE)
    await rows.job(a, "RUNNING", now - 40 * MINUTE, timedelta(seconds=1000), progress=now, system=True)
    await rows.chunks(
        await rows.job(b, "PENDING", now - 5 * MINUTE), "PENDING", "PENDING", "PENDING", ready=now - OLDEST_READY
    )
    # Started three hours ago: outside the waiting-time window.
    await rows.job(
        b, "FINISHED", now - 180 * MINUTE, timedelta(seconds=400), ended=now - 120 * MINUTE, done=40
    )
    await rows.job(a, "FAILED", now - 50 * MINUTE, timedelta(seconds=400), ended=now - 10 * MINUTE)
    # Hidden: in no job figure.
    await rows.job(
        a, "FAILED", now - 130 * MINUTE, timedelta(seconds=6960), ended=now - 5 * MINUTE, hidden=True
    )
    # Stopped: neither waiting nor the oldest ready, however long ago it was ready.
    await rows.chunks(
        await rows.job(b, "STOPPED", now - 180 * MINUTE, MINUTE, ended=now), "STOPPED", ready=now - 170 * MINUTE
    )
    this_month = month_of(now)
    await rows.usage(a, this_month, 120)
    await rows.usage(a, "2001-01", 30)
    await rows.usage(b, this_month, 50)


async def announce_workers(redis_url: str, *worker_ids: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushall()
        for worker_id in worker_ids:
            await redis.set(keys.worker(worker_id), 4, ex=60)
    finally:
        await redis.aclose()


def scrape(api: Api) -> tuple[httpx.Response, dict[str, Any]]:
    response = httpx.get(f"{api.url}/metrics", headers=SCRAPER, timeout=10)
    return response, {family.name: family for family in text_string_to_metric_families(response.text)}


def fresh_scrape(api: Api, after: float) -> dict[str, Any]:
    """The first scrape whose job figures were read after ``after`` (Unix time)."""
    deadline = time.monotonic() + 10 * CACHE_SECONDS + 10
    while time.monotonic() < deadline:
        _, families = scrape(api)
        if samples(families[TAKEN_AT])[()] > after:
            return families
        time.sleep(0.05)
    raise AssertionError(f"no snapshot of the job figures newer than {after}")


def samples(family: Any, name: str | None = None) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in family.samples
        if name is None or sample.name == name
    }


# ---------------------------------------------------------------- tests


async def test_metrics_follow_the_jobs_queue_and_workers_of_the_database(api, jobtower, redis_url):
    await announce_workers(redis_url)
    response, _ = await asyncio.to_thread(scrape, api)
    empty = await asyncio.to_thread(fresh_scrape, api, time.time())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert samples(empty["jobtower_jobs"]) == {(("status", s),): 0 for s in STATUSES}
    for family in ("jobtower_jobs_stalled", "jobtower_queue_depth", "jobtower_workers_online"):
        assert samples(empty[family]) == {(): 0}
    assert samples(empty["jobtower_records_processed"], "jobtower_records_processed_total") == {(): 0}
    assert samples(empty[WAITS], f"{WAITS}_count") == {(): 0}
    assert samples(empty["jobtower_queue_depth_by_tenant"]) == {(("tenant", "(other)"),): 0}
    assert samples(empty["jobtower_queue_oldest_ready_seconds"]) == {(): 0}

    seeded = datetime.now(UTC)
    await seed(Rows(jobtower), seeded)
    await announce_workers(redis_url, "w1", "w2")
    families = await asyncio.to_thread(fresh_scrape, api, time.time())

    jobs = families["jobtower_jobs"]
    assert jobs.type == "gauge"
    assert {dict(labels)["status"]: value for labels, value in samples(jobs).items()} == {
        "PENDING": 1,
        "RUNNING": 3,
        "WAITING": 0,
        "STOPPING": 0,
        "STOPPED": 1,
        "CANCELING": 0,
        "CANCELED": 0,
        "FINISHED": 1,
        "FAILED": 1,
    }
    assert samples(families["jobtower_jobs_stalled"]) == {(): 1}
    assert samples(families["jobtower_jobs_failed_last_24h"]) == {(): 1}
    assert samples(families["jobtower_queue_depth"]) == {(): 5}
    # The deepest queue by name (TOP_TENANTS), the rest together.
    assert samples(families["jobtower_queue_depth_by_tenant"]) == {
        (("tenant", "beta"),): 3,
        (("tenant", "(other)"),): 2,
    }
    oldest = samples(families["jobtower_queue_oldest_ready_seconds"])[()]
    assert OLDEST_READY.total_seconds() <= oldest <= (datetime.now(UTC) - seeded + OLDEST_READY).total_seconds()
    assert samples(families["jobtower_workers_online"]) == {(): 2}
    records = families["jobtower_records_processed"]
    assert records.type == "counter"
    assert samples(records, "jobtower_records_processed_total") == {(): 200}
    waits = families[WAITS]
    assert waits.type == "histogram"
    # Waits of 2, 45, 400 and 1000 seconds; the hidden job's and the older ones' do not count.
    assert {dict(labels)["le"]: value for labels, value in samples(waits, f"{WAITS}_bucket").items()} == {
        "1.0": 0,
        "5.0": 1,
        "30.0": 1,
        "60.0": 2,
        "300.0": 2,
        "900.0": 3,
        "3600.0": 4,
        "+Inf": 4,
    }
    assert samples(waits, f"{WAITS}_count") == {(): 4}
    assert samples(waits, f"{WAITS}_sum") == {(): 1447.0}


def test_metrics_need_their_token(api):
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {METRICS_TOKEN}"}):
        response = httpx.get(f"{api.url}/metrics", headers=headers, timeout=10)

        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == {
            "errors": [
                {
                    "message": "metrics need the bearer token of JOBTOWER_METRICS_TOKEN",
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ]
        }
        assert "jobtower_jobs" not in response.text


def test_scrapes_share_a_snapshot_of_the_job_figures(api):
    started = time.monotonic()
    taken = [samples(scrape(api)[1][TAKEN_AT])[()] for _ in range(30)]
    elapsed = time.monotonic() - started

    # One read of the database per CACHE_SECONDS at most, however many scrapes ask.
    assert len(set(taken)) <= 1 + int(elapsed // CACHE_SECONDS) + 1, (taken, elapsed)
    assert len(set(taken)) < len(taken)


async def test_request_latency_is_labelled_by_route_not_by_url(api):
    def requests() -> tuple[dict[str, Any], dict[str, Any]]:
        _, before = scrape(api)
        for path in ("/healthz", "/healthz?probe=1", "/healthz?probe=2"):
            assert httpx.get(api.url + path).status_code == 200
        assert httpx.post(f"{api.url}/healthz").status_code == 405
        assert httpx.get(f"{api.url}/no/such/page/42").status_code == 404
        _, after = scrape(api)
        return before, after

    before, after = await asyncio.to_thread(requests)

    name = "jobtower_http_request_duration_seconds"
    counts_before = samples(before[name], f"{name}_count")
    counts_after = samples(after[name], f"{name}_count")
    grew = {
        (dict(labels)["method"], dict(labels)["route"], dict(labels)["status"]): count
        - counts_before.get(labels, 0)
        for labels, count in counts_after.items()
        if count != counts_before.get(labels, 0)
    }
    assert grew == {
        ("GET", "/healthz", "200"): 3,
        ("POST", "/healthz", "405"): 1,
        # Any other GET may be a console screen: the console's one route answers it (404 here,
        # as it asks for no HTML), under one label however many paths are tried.
        ("GET", "/{path:path}", "404"): 1,
        ("GET", "/metrics", "200"): 1,  # the first scrape
    }
    assert after[name].type == "histogram"


async def test_the_middleware_names_path_templates_and_counts_failures():
    async def job(request: Request) -> PlainTextResponse:
        if request.path_params["id"] == "boom":
            raise RuntimeError("the handler failed")
        return PlainTextResponse(request.path_params["id"])

    metrics = Metrics()
    app = Starlette(
        routes=[Route("/jobs/{id}", job)],
        middleware=[Middleware(RequestMetricsMiddleware, metrics=metrics)],
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for job_id in ("1", "2", "3"):
            assert (await client.get(f"/jobs/{job_id}")).status_code == 200
        assert (await client.request("BREW", "/jobs/4")).status_code == 405
        assert (await client.get("/jobs/boom")).status_code == 500

    def observed(method: str, status: str) -> float | None:
        return metrics.registry.get_sample_value(
            "jobtower_http_request_duration_seconds_count",
            {"method": method, "route": "/jobs/{id}", "status": status},
        )

    assert (observed("GET", "200"), observed("OTHER", "405"), observed("GET", "500")) == (3, 1, 1)


async def test_job_count_changes_are_folded_while_nobody_scrapes(acme):
    await Job.create(
        tenant_id=acme.tenant.id, type=TYPE, name=TYPE, chunk_size=10, partition_id=await shared_partition(utcnow())
    )
    assert await JobCountChange.exists()

    async with folding_job_counts(every=0.05):
        await wait_until(_no_changes_left, timeout=10, what="the changes to be folded")


async def _no_changes_left() -> bool:
    return not await JobCountChange.exists()


@pytest.fixture(scope="module")
def viewer_token(jobtower: Jobtower) -> str:
    assert jobtower("tenant", "create", "gamma").returncode == 0
    issued = jobtower("token", "create", "--tenant", "gamma", "--role", "VIEWER", "--name", "scraper test")
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip()


def graphql(api: Api, token: str, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{api.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    return response.json()


OPERATIONS = "jobtower_graphql_operation_duration_seconds"


async def test_graphql_latency_is_labelled_by_operation_type_and_root_field(api, viewer_token):
    def requests() -> tuple[dict[str, Any], dict[str, Any]]:
        _, before = scrape(api)
        assert graphql(api, viewer_token, "query ClientsOwnName42 { viewer { role } }") == {
            "data": {"viewer": {"role": "VIEWER"}}
        }
        named = graphql(
            api,
            viewer_token,
            "query Other { ...Both } fragment Both on Query { __typename ... on Query { viewer { role } } }",
        )
        assert named["data"]["viewer"] == {"role": "VIEWER"}
        refused = graphql(api, viewer_token, "mutation Stop($id: ID!) { stopJob(id: $id) { __typename } }", id="x")
        assert "data" in refused
        assert "errors" in graphql(api, viewer_token, "{ noSuchField }")
        _, after = scrape(api)
        return before, after

    before, after = await asyncio.to_thread(requests)

    counts_before = samples(before[OPERATIONS], f"{OPERATIONS}_count") if OPERATIONS in before else {}
    counts_after = samples(after[OPERATIONS], f"{OPERATIONS}_count")
    grew = {
        (dict(labels)["operation"], dict(labels)["field"]): count - counts_before.get(labels, 0)
        for labels, count in counts_after.items()
        if count != counts_before.get(labels, 0)
    }
    # The schema's names, never the client's operation names; an unknown field is no name at all.
    assert grew == {("query", "viewer"): 2, ("query", "__typename"): 1, ("mutation", "stopJob"): 1}


def test_the_alert_rules_and_the_dashboard_name_only_series_the_endpoint_serves(api, viewer_token):
    httpx.get(f"{api.url}/healthz", timeout=10)  # a request, so request latency has series
    graphql(api, viewer_token, "{ viewer { role } }")  # and GraphQL latency
    _, families = scrape(api)
    served = {sample.name for family in families.values() for sample in family.samples}
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((REPO / "deploy/grafana/jobtower.json").read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]

    named = {name for expression in expressions for name in re.findall(r"\bjobtower_\w+", expression)}
    assert named, "the files name no Jobtower series"
    assert named <= served, f"not served: {sorted(named - served)}"
