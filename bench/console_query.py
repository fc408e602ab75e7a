"""The console's main query on a big database, and keyset paging through a million records.

    .venv/bin/python -m bench.console_query [--records 1000000] [--runs 15]

It starts a throwaway PostgreSQL and Redis, and writes straight into the
database (server-side ``INSERT … SELECT generate_series``, no workers): one
RUNNING job of ``--records`` records in chunks of 1,000, and 49 more jobs of
10 chunks × 20 records, nine of them children of the big one. Then, through the
real Starlette app (in-process ASGI, the API's own code path from HTTP request
to JSON), it measures:

* the console's main query — 50 jobs, each with progress, children's progress,
  tenant and who ran it, its first 10 chunks and their first 20 records (no journeys:
  the cost limit counts their steps, and 10,000 records' journeys pass it; until
  2026-12-01 the query asked for them): median and p90 latency over ``--runs`` runs, and the SQL
  statements one request sends (each one database round trip);
* the first, the middle and the last page (100 records) of the big job's
  records: keyset pagination makes every page cost what the first does.

It is a benchmark, not a test: it prints figures and targets and exits non-zero
only when an answer is wrong (missing jobs, records or a wrong last page).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from domain import db
from domain.access import PrincipalKind, Role
from domain.clock import utcnow
from domain.journey import entry
from domain.listing import encode_cursor
from domain.models import Job
from domain.partitions import partition_for_new_job, shared_partition
from domain.statuses import JobStatus, StepStatus
from domain.tenants import create_tenant, create_token
from jobtower.app import create_app
from jobtower.collector import tune_garbage_collector
from jobtower.settings import Settings
from tests.gql.support import counting_statements
from tests.services import postgres_server
from workers.redis_server import EmbeddedRedis

BIG_CHUNK = 1_000
SMALL_JOBS = 49
SMALL_CHUNKS = 10
SMALL_RECORDS_PER_CHUNK = 20
CHILDREN_OF_BIG = 9
PAGE = 100

TARGET_CONSOLE_MEDIAN_MS = 1_000
TARGET_STATEMENTS = 16
TARGET_LAST_PAGE_RATIO = 1.5

CONSOLE_QUERY = """
query Console {
  jobs(first: 50) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name status createdAt waitingSeconds durationSeconds hasErrors
      progress { total done succeeded failed skipped percent estimated }
      childrenProgress { total done percent estimated }
      tenant { slug }
      runBy { name }
      chunks(first: 10) { edges { node {
        index status progress { done total }
        records(first: 20) { edges { node { key status durationSeconds } } }
      } } }
    } }
  }
}
"""

RECORDS_PAGE = """
query Records($id: ID!, $after: String) {
  job(id: $id) { records(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { key position status journey { name status durationSeconds } } }
  } }
}
"""


@dataclass(frozen=True)
class Populated:
    token: str
    big_job_id: int
    records: int
    seconds: float


async def populate(records: int) -> Populated:
    began = time.perf_counter()
    tenant = await create_tenant("bench", "Bench")
    viewer = await create_token("bench", Role.VIEWER, "console", PrincipalKind.USER)
    operator = await create_token("bench", Role.OPERATOR, "ops bot")
    now = utcnow()
    started = now - timedelta(hours=1)
    common = dict(
        tenant_id=tenant.id, type="noop", params={}, step_names=["fetch", "transform", "store"],
        run_by_id=operator.principal.id, enumerated=True, seq=1, started_at=started,
    )
    # Placed as admission places a job of its size: in a partition of its own.
    async with db.transaction():
        big_partition = await partition_for_new_job(records, now)
    big = await Job.create(
        name="contact sync (1M)", status=JobStatus.RUNNING, chunk_size=BIG_CHUNK, partition_id=big_partition,
        total=records, done=records // 2, succeeded=records // 2, **common,
    )
    await Job.filter(id=big.id).update(root_id=big.id)
    small_total = SMALL_CHUNKS * SMALL_RECORDS_PER_CHUNK
    small_partition = await shared_partition(now)
    await Job.bulk_create(
        [
            Job(
                name=f"campaign {number:02d}", status=JobStatus.FINISHED if number % 3 else JobStatus.RUNNING,
                chunk_size=SMALL_RECORDS_PER_CHUNK, partition_id=small_partition, total=small_total, done=small_total,
                succeeded=small_total,
                parent_id=big.id if number < CHILDREN_OF_BIG else None, **common,
            )
            for number in range(SMALL_JOBS)
        ]
    )
    await db.fetch("UPDATE job SET root_id = COALESCE(parent_id, id) WHERE root_id IS NULL", [])
    small = list(await Job.filter(tenant_id=tenant.id).exclude(id=big.id).values_list("id", flat=True))

    # Chunks and records are generated by the server: a million rows in seconds.
    await _chunks([big.id], records, BIG_CHUNK, started, now)
    await _chunks(small, small_total, SMALL_RECORDS_PER_CHUNK, started, now)
    journey = json.dumps(
        [entry(0, StepStatus.SUCCEEDED, 0, 1_200), entry(1, StepStatus.SUCCEEDED, 1_500, 800), entry(2, StepStatus.SUCCEEDED, 2_600, 9_000)],
        separators=(",", ":"),
    )
    await db.fetch(
        "INSERT INTO record (job_id, partition_id, chunk_id, position, key, status, attempts, started_at, ended_at,"
        " journey) SELECT c.job_id, j.partition_id, c.id, p, 'contact-' || p, 'SUCCEEDED', 1, ?, ?, CAST(? AS JSONB)"
        " FROM chunk c JOIN job j ON j.id = c.job_id"
        " CROSS JOIN LATERAL generate_series(c.range_start, c.range_end - 1) AS p"
        " WHERE j.tenant_id = ?",
        [started, now, journey, tenant.id],
    )
    await db.fetch("ANALYZE", [])
    return Populated(token=viewer.token, big_job_id=big.id, records=records, seconds=time.perf_counter() - began)


async def _chunks(job_ids: list[int], total: int, size: int, started: Any, ended: Any) -> None:
    await db.fetch(
        "INSERT INTO chunk (job_id, index, status, range_start, range_end, cursor, keys, attempts, started_at,"
        " ended_at, done, succeeded, failed, skipped)"
        " SELECT j, i, 'COMPLETED', i * ?, (i + 1) * ?, (i + 1) * ?, '[]', 1, ?, ?, ?, ?, 0, 0"
        " FROM unnest(CAST(? AS BIGINT[])) AS j CROSS JOIN generate_series(0, ? - 1) AS i",
        [size, size, size, started, ended, size, size, job_ids, total // size],
    )


async def timed(http: httpx.AsyncClient, token: str, query: str, variables: dict | None = None) -> tuple[float, Any]:
    began = time.perf_counter()
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}", "accept": "application/graphql-response+json"},
    )
    elapsed = time.perf_counter() - began
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise SystemExit(f"the query failed: {response.status_code} {json.dumps(body)[:2000]}")
    return elapsed, body["data"]


async def median_of(runs: int, http: httpx.AsyncClient, token: str, query: str, variables: dict | None = None) -> tuple[list[float], Any]:
    await timed(http, token, query, variables)  # warm: statement caches, imports
    times, data = [], None
    for _ in range(runs):
        elapsed, data = await timed(http, token, query, variables)
        times.append(elapsed)
    return times, data


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(records: int, runs: int) -> int:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jobtower-bench-") as folder, postgres_server() as database_url:
        with EmbeddedRedis(Path(folder) / "redis") as redis_server:
            await db.migrate(database_url)
            async with db.database(database_url):
                populated = await populate(records)
                print(f"populated {records:,} + {SMALL_JOBS * SMALL_CHUNKS * SMALL_RECORDS_PER_CHUNK:,} records "
                      f"in {populated.seconds:.1f} s", flush=True)
                app = create_app(Settings(redis_url=redis_server.url), redis_server.url)
                # As the API process does once it has started (the app's lifespan, which is not
                # run in-process here). With CPython's defaults, collections that walk the growing
                # answer took a third of the console query, and varied by ±15% from run to run.
                tune_garbage_collector()
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=300) as http:
                    token = populated.token
                    console_times, data = await median_of(runs, http, token, CONSOLE_QUERY)
                    with counting_statements() as counter:
                        await timed(http, token, CONSOLE_QUERY)
                    jobs = data["jobs"]["edges"]
                    shown_records = sum(
                        len(chunk["node"]["records"]["edges"]) for job in jobs for chunk in job["node"]["chunks"]["edges"]
                    )
                    if data["jobs"]["totalCount"] != SMALL_JOBS + 1 or len(jobs) != 50 or shown_records != 10_000:
                        failures.append(f"console query showed {len(jobs)} jobs and {shown_records} records")

                    job_id = _global_id(populated.big_job_id)
                    first_times, first = await median_of(runs, http, token, RECORDS_PAGE, {"id": job_id})
                    middle_cursor = encode_cursor(records // 2 - 1)
                    middle_times, middle = await median_of(
                        runs, http, token, RECORDS_PAGE, {"id": job_id, "after": middle_cursor}
                    )
                    last_cursor = encode_cursor(records - PAGE - 1)
                    last_times, last = await median_of(runs, http, token, RECORDS_PAGE, {"id": job_id, "after": last_cursor})
                    middle_keys = [edge["node"]["key"] for edge in middle["job"]["records"]["edges"]]
                    if middle_keys != [f"contact-{p}" for p in range(records // 2, records // 2 + PAGE)]:
                        failures.append("the middle page is not the 100 records after the middle")
                    last_keys = [edge["node"]["key"] for edge in last["job"]["records"]["edges"]]
                    if last_keys != [f"contact-{p}" for p in range(records - PAGE, records)]:
                        failures.append("the last page is not the last 100 records")
                    if last["job"]["records"]["pageInfo"]["hasNextPage"] or not first["job"]["records"]["pageInfo"]["hasNextPage"]:
                        failures.append("hasNextPage is wrong on the first or the last page")

    console_median = statistics.median(console_times) * 1000
    first_median = statistics.median(first_times) * 1000
    middle_median = statistics.median(middle_times) * 1000
    last_median = statistics.median(last_times) * 1000
    ratio = last_median / first_median
    spread = max(first_median, middle_median, last_median) / min(first_median, middle_median, last_median)
    print()
    print(f"console main query (50 jobs x 10 chunks x 20 records + journeys), {runs} runs:")
    print(f"  median {console_median:,.0f} ms   p90 {quantile(console_times, 0.9) * 1000:,.0f} ms"
          f"   (target: median < {TARGET_CONSOLE_MEDIAN_MS:,} ms)")
    print(f"  SQL statements per request (one round trip each): {len(counter.statements)}"
          f"   (target: <= {TARGET_STATEMENTS}, the same for any tree size)")
    print(f"records of the {records:,}-record job, 100 per page, {runs} runs:")
    print(f"  first page median {first_median:,.1f} ms   middle {middle_median:,.1f} ms   last {last_median:,.1f} ms")
    print(f"  last/first {ratio:.2f}x   slowest/fastest page {spread:.2f}x   (target: both < {TARGET_LAST_PAGE_RATIO}x)")
    for failure in failures:
        print(f"WRONG: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _global_id(pk: int) -> str:
    from gql.ids import to_global_id

    return str(to_global_id("Job", pk))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records of the big job (a multiple of 1,000)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each query")
    args = parser.parse_args()
    if args.records % BIG_CHUNK or args.records < 10 * BIG_CHUNK:
        parser.error(f"--records must be a multiple of {BIG_CHUNK:,}, at least {10 * BIG_CHUNK:,}")
    raise SystemExit(asyncio.run(run(args.records, args.runs)))


if __name__ == "__main__":
    main()
