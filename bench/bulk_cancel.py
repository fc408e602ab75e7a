"""A bulk cancel of 10,000 PENDING jobs: how long it takes, and what it costs other requests meanwhile.

    .venv/bin/python -m bench.bulk_cancel [--jobs 10000] [--probes 300] [--probe-ms 50]

It starts a throwaway PostgreSQL and Redis, a dispatcher, one ``jobtower worker`` and one
``jobtower api``, and writes ``--jobs`` PENDING jobs into one tenant, straight into the
table and enumerated into no chunk (``tests.workers.support.idle_pending_jobs``), so no
worker runs them and what is measured is the bulk operation alone. Then, over HTTP with
an OPERATOR token:

* quiet: the probe, ``jobs(first: 20)``, ``--probes`` times, one every ``--probe-ms``: p50, p99;
* ``startBulkOperation(action: CANCEL, filter: {status: [PENDING]})``: the mutation's answer
  time (it only chooses the jobs; the worker does the rest);
* meanwhile: the same probe at the same pace until the operation is COMPLETED: p50, p99, and
  their ratios to the quiet figures of the same run;
* the time to complete (mutation sent until the operation's ``endedAt``) and jobs per second;
* quiet again afterwards, so drift over the run shows.

It is a benchmark, not a test: it exits non-zero only when a job is not CANCELED, or was
canceled twice, or the operation counted anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import httpx

from bench.console_query import quantile
from domain import db
from domain.access import Role
from domain.models import BulkOperation, Job
from domain.statuses import BulkOperationStatus, JobStatus
from domain.tenants import create_tenant, create_token
from tests.cluster import Cluster, api_process, wait_until
from tests.conftest import TenantFixture
from tests.services import postgres_server
from tests.workers.support import idle_pending_jobs
from workers.redis_server import EmbeddedRedis

PROBE = "{ jobs(first: 20) { edges { node { id name status createdAt } } } }"
PROBE_NAME = "jobs(first: 20)"
START = """
mutation { startBulkOperation(input: {action: CANCEL, filter: {status: [PENDING]}}) {
  __typename ... on BulkOperationStarted { bulkOperation { id total } } } }"""
READ = "query($id: ID!) { bulkOperation(id: $id) { status total done succeeded failed createdAt endedAt } }"
JOB_TYPE_MODULES = ("jobtower.demo", "tests.job_types")


async def probe(client: httpx.AsyncClient) -> float:
    """One probe request's time in ms; fails on anything but a clean answer."""
    began = time.perf_counter()
    response = await client.post("/graphql", json={"query": PROBE})
    elapsed = (time.perf_counter() - began) * 1000
    body = response.json()
    assert response.status_code == 200 and "errors" not in body and len(body["data"]["jobs"]["edges"]) == 20, body
    return elapsed


async def probes(client: httpx.AsyncClient, pace_ms: float, count: int | None, until: asyncio.Event | None = None) -> list[float]:
    """Probe times, one probe every ``pace_ms``: ``count`` of them, or until ``until`` is set."""
    times: list[float] = []
    while (count is None or len(times) < count) and not (until is not None and until.is_set()):
        began = time.perf_counter()
        times.append(await probe(client))
        await asyncio.sleep(max(0.0, pace_ms / 1000 - (time.perf_counter() - began)))
    return times


def figures(times: list[float]) -> tuple[float, float]:
    return quantile(times, 0.50), quantile(times, 0.99)


def load() -> float:
    """The machine's 1-minute load average: the probes' times mean little on a busy machine."""
    return os.getloadavg()[0]


async def bench(database_url: str, redis_server: EmbeddedRedis, log_dir: Path, args: argparse.Namespace) -> int:
    cluster = Cluster(database_url=database_url, redis_url=redis_server.url, log_dir=log_dir, job_type_modules=JOB_TYPE_MODULES)
    async with db.database(database_url, apply_migrations=True):
        tenant = await create_tenant("bench")
        token = (await create_token("bench", Role.OPERATOR)).token
        began = time.perf_counter()
        job_ids = await idle_pending_jobs(TenantFixture(tenant), args.jobs)
        print(f"{len(job_ids):,} PENDING jobs written in {time.perf_counter() - began:.1f} s", flush=True)
        try:
            cluster.start_dispatcher()
            cluster.start_worker()
            with api_process(cluster.env(), log_dir / "api.log") as port:
                headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
                    await probes(client, 0, 20)  # warm up the API process
                    loads = [load()]
                    quiet = await probes(client, args.probe_ms, args.probes)
                    loads.append(load())

                    sent = time.perf_counter()
                    response = (await client.post("/graphql", json={"query": START})).json()
                    answered_ms = (time.perf_counter() - sent) * 1000
                    started = response["data"]["startBulkOperation"]
                    assert started["__typename"] == "BulkOperationStarted", response
                    operation_id = started["bulkOperation"]["id"]
                    print(f"startBulkOperation answered in {answered_ms:.0f} ms: {started['bulkOperation']['total']:,} jobs chosen", flush=True)

                    completed = asyncio.Event()

                    async def watch() -> None:
                        async def done() -> bool:
                            return await BulkOperation.filter(status=BulkOperationStatus.COMPLETED).exists()

                        await wait_until(done, timeout=3600, interval=0.2, what="the bulk operation to complete")
                        completed.set()

                    watching = asyncio.create_task(watch())
                    meanwhile = await probes(client, args.probe_ms, None, until=completed)
                    await watching
                    loads.append(load())
                    final = (await client.post("/graphql", json={"query": READ, "variables": {"id": operation_id}})).json()
                    after = await probes(client, args.probe_ms, args.probes)
                    loads.append(load())
        finally:
            cluster.stop_all()

        operation = final["data"]["bulkOperation"]
        took = (datetime.fromisoformat(operation["endedAt"]) - datetime.fromisoformat(operation["createdAt"])).total_seconds()
        statuses = set(await Job.filter(id__in=job_ids).values_list("status", flat=True))
        twice = await db.fetch(
            "SELECT job_id FROM job_event WHERE to_status = ? AND kind = 'STATUS_CHANGED'"
            " GROUP BY job_id HAVING COUNT(*) > 1 LIMIT 5",
            [JobStatus.CANCELED.value],
        )

    quiet_p50, quiet_p99 = figures(quiet)
    during_p50, during_p99 = figures(meanwhile)
    after_p50, after_p99 = figures(after)
    print(f"bulk cancel of {operation['total']:,} PENDING jobs: {operation['status']} in {took:.1f} s"
          f" ({operation['total'] / took:,.0f} jobs/s); succeeded {operation['succeeded']:,}, failed {operation['failed']:,}")
    print(f"probe {PROBE_NAME}, one every {args.probe_ms:.0f} ms:")
    print(f"  quiet before:    p50 {quiet_p50:6.1f} ms   p99 {quiet_p99:6.1f} ms   ({len(quiet)} requests)")
    print(f"  during the bulk: p50 {during_p50:6.1f} ms   p99 {during_p99:6.1f} ms   ({len(meanwhile)} requests)")
    print(f"  quiet after:     p50 {after_p50:6.1f} ms   p99 {after_p99:6.1f} ms   ({len(after)} requests)")
    print(f"  during ÷ quiet before: p50 {during_p50 / quiet_p50:.2f}×, p99 {during_p99 / quiet_p99:.2f}×;"
          f" ÷ quiet after: p50 {during_p50 / after_p50:.2f}×, p99 {during_p99 / after_p99:.2f}×")
    print("load average (1 min) at the start, after the quiet phase, after the bulk, at the end: "
          + " / ".join(f"{value:.1f}" for value in loads))
    problems = []
    if statuses != {JobStatus.CANCELED}:
        problems.append(f"jobs left in {sorted(statuses)}")
    if twice:
        problems.append(f"jobs canceled twice: {[row['job_id'] for row in twice]}")
    if (operation["done"], operation["succeeded"], operation["failed"]) != (args.jobs, args.jobs, 0):
        problems.append(f"the operation counted {operation}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_cancel", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=300, help="probe requests in each quiet phase")
    parser.add_argument("--probe-ms", type=float, default=50.0, help="one probe request every this many ms")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


def run_on_services(
    name: str,
    bench: Callable[..., Awaitable[int]],
    args: argparse.Namespace,
    run: Callable[[Awaitable[int]], int] = asyncio.run,
) -> None:
    """Runs ``bench(database_url, redis_server, log_dir, args)`` by ``run`` (an event loop's
    runner) on a throwaway PostgreSQL and Redis; the processes' logs are kept when it fails or
    ``--keep-logs`` asks, and its code is the exit's."""
    work = Path(tempfile.mkdtemp(prefix=f"jobtower-bench-{name}-"))
    (work / "logs").mkdir()
    code = 1
    try:
        with postgres_server() as database_url, EmbeddedRedis(work / "redis") as redis:
            code = run(bench(database_url, redis, work / "logs", args))
    finally:
        if code or args.keep_logs:
            print(f"logs: {work / 'logs'}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    run_on_services("bulk", bench, parse_args(argv))


if __name__ == "__main__":
    main()
