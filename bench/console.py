"""The console's Jobs page in Chromium on a big database: first load, requests, server time, JS, DOM rows.

    .venv/bin/python -m bench.console [--records 1000000] [--jobs 10000] [--loads 5]

It starts a throwaway PostgreSQL and Redis and writes straight into the database as
``bench.console_query`` does (server-side ``INSERT … SELECT generate_series``, no workers):
one RUNNING job of ``--records`` records, and ``--jobs`` jobs in all. Then it starts a real
``jobtower api`` (the API alone: no worker touches the rows) serving the built console, and
opens the Jobs page with the big run selected in the system's Chromium, ``--loads`` times:

* first load: from navigation until the run list and the selected run's first records are drawn;
* the GraphQL requests that load makes (HTTP; the one WebSocket is counted apart);
* each query's server time: every query the page sent, sent again alone and one at a time
  over the loopback (p50, p90; target p50 < 50 ms); those the page sends at once, sent
  together again; each one's time to first byte in the page; and the API's own mean time per
  GraphQL request over the loads, from ``/metrics``;
* the JavaScript the page loaded, gzipped;
* the record table's DOM rows after the first load and after scrolling ten pages down.

It is a benchmark, not a test: it prints figures and exits non-zero only when the page
does not show what it should.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from bench.console_query import BIG_CHUNK, _global_id, populate, quantile
from domain import db
from domain.clock import utcnow
from domain.models import Job
from domain.partitions import shared_partition
from domain.statuses import JobStatus
from tests.cli import clean_environment, console_script
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.services import free_port, postgres_server, wait_for_port
from workers.redis_server import EmbeddedRedis

TARGET_QUERY_P50_MS = 50
REPLAYS = 21
MOST_ROWS = 150
TOKEN_KEY = "jobtower.token"
# Pages the reader scrolls through before the rows are counted a second time.
SCROLLED_PAGES = 10
# Scrolls the record table to the bottom of what is loaded; true once `rows` records are loaded.
SCROLL_TO = """([rows]) => {
    const table = document.querySelector(".record-table");
    const box = table.parentElement;
    box.scrollTop = box.scrollHeight;
    const drawn = [...table.querySelectorAll("tr[aria-rowindex]")];
    return Number(drawn[drawn.length - 1].getAttribute("aria-rowindex")) >= rows;
}"""


async def seed(database_url: str, records: int, jobs: int) -> tuple[str, str, float]:
    """The big job and its records (bench.console_query), then more jobs up to `jobs` in all."""
    await db.migrate(database_url)
    async with db.database(database_url):
        populated = await populate(records)
        began = time.perf_counter()
        template = await Job.get(name="campaign 10")
        ended = utcnow()
        partition = await shared_partition(ended)
        await Job.bulk_create(
            [
                Job(
                    tenant_id=template.tenant_id, partition_id=partition, type=template.type,
                    name=f"nightly import {number}",
                    params={}, step_names=template.step_names, run_by_id=template.run_by_id, enumerated=True,
                    seq=1, status=JobStatus.FINISHED, chunk_size=template.chunk_size, total=200, done=200,
                    succeeded=200 - number % 7, failed=number % 7,
                    started_at=ended - timedelta(minutes=number), ended_at=ended - timedelta(minutes=number, seconds=-40),
                )
                for number in range(jobs - await Job.all().count())
            ],
            batch_size=1_000,
        )
        await db.fetch("UPDATE job SET root_id = id WHERE root_id IS NULL", [])
        await db.fetch("VACUUM ANALYZE", [])  # as autovacuum leaves a table in use
        seconds = populated.seconds + time.perf_counter() - began
        return populated.token, _global_id(populated.big_job_id), seconds


def operation(post_data: str | None) -> str:
    """The operation a console request names (`query Runs(...)` → Runs)."""
    text = json.loads(post_data or "{}").get("query", "")
    words = text.replace("(", " ").replace("{", " ").split()
    return words[1] if len(words) > 1 and words[0] in ("query", "mutation") else "anonymous"


def measure(url: str, token: str, big_job: str, loads: int) -> dict:
    figures: dict = {
        "load_ms": [], "requests": [], "in_page_ms": defaultdict(list), "rows_first": [], "js": {}, "bodies": {},
    }
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            # Signed in as a reader who already gave the token in this tab.
            context.add_init_script(f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)})")
            page = context.new_page()
            graphql: list = []
            page.on("requestfinished", lambda request: graphql.append(request) if request.url.endswith("/graphql") else None)
            scripts: list = []
            page.on("response", lambda response: scripts.append(response) if response.url.endswith(".js") else None)
            began = time.perf_counter()
            page.goto(f"{url}/jobs?run={big_job}")
            page.locator(".run-list li").first.wait_for()
            page.locator(".record-table .record-key a").first.wait_for()
            figures["load_ms"].append((time.perf_counter() - began) * 1000)
            figures["rows_first"].append(page.locator(".record-table tr").count())
            figures["requests"].append(len(graphql))
            for request in graphql:
                timing = request.timing
                name = operation(request.post_data)
                figures["in_page_ms"][name].append(timing["responseStart"] - timing["requestStart"])
                figures["bodies"].setdefault(name, request.post_data)
            for response in scripts:
                figures["js"][response.url] = len(gzip.compress(response.body(), compresslevel=9))
            page.wait_for_function(SCROLL_TO, arg=[SCROLLED_PAGES * 100], polling=50, timeout=120_000)
            figures["rows_scrolled"] = page.locator(".record-table tr").count()
            context.close()
        browser.close()
    return figures


def graphql_seconds(url: str) -> tuple[float, float]:
    """The API's own count and total seconds of answered GraphQL POSTs, from /metrics."""
    count = total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if 'method="POST"' in line and 'route="/graphql"' in line:
            name, value = line.rsplit(" ", 1)
            if name.startswith("jobtower_http_request_duration_seconds_count"):
                count += float(value)
            elif name.startswith("jobtower_http_request_duration_seconds_sum"):
                total += float(value)
    return count, total


def console_headers(token: str) -> dict[str, str]:
    """What the console's fetch wrapper sends with a query."""
    return {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/graphql-response+json, application/json",
    }


def replay(url: str, token: str, bodies: dict[str, str], runs: int = REPLAYS) -> dict[str, list[float]]:
    """Each query the page sent, again and alone, one at a time: its own time on the server
    (plus a loopback round trip), without the page's other requests sharing the event loop."""
    times: dict[str, list[float]] = defaultdict(list)
    headers = console_headers(token)
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for name, body in bodies.items():
            http.post("/graphql", content=body)  # warm
            for _ in range(runs):
                began = time.perf_counter()
                response = http.post("/graphql", content=body)
                times[name].append((time.perf_counter() - began) * 1000)
                if response.status_code != 200 or "errors" in response.json():
                    raise SystemExit(f"{name} failed: {response.text[:2000]}")
    return times


def replay_together(url: str, token: str, bodies: dict[str, str], runs: int = REPLAYS) -> dict[str, list[float]]:
    """The queries the page sends at once (all but the first, Viewer), sent together again:
    what sharing the API's event loop costs each, without a browser on the same cores."""
    together = {name: body for name, body in bodies.items() if name != "Viewer"}
    headers = console_headers(token)
    times: dict[str, list[float]] = defaultdict(list)

    async def one(http: httpx.AsyncClient, name: str, body: str) -> None:
        began = time.perf_counter()
        await http.post("/graphql", content=body)
        times[name].append((time.perf_counter() - began) * 1000)

    async def rounds() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            for _ in range(runs):
                await asyncio.gather(*(one(http, name, body) for name, body in together.items()))

    asyncio.run(rounds())
    return times


def run(records: int, jobs: int, loads: int) -> int:
    with tempfile.TemporaryDirectory(prefix="jobtower-bench-") as folder, postgres_server() as database_url:
        with EmbeddedRedis(Path(folder) / "redis") as redis_server:
            token, big_job, seconds = asyncio.run(seed(database_url, records, jobs))
            print(f"seeded {jobs:,} jobs, one of {records:,} records, in PostgreSQL in {seconds:.1f} s", flush=True)
            port = free_port()
            log = Path(folder) / "api.log"
            with open(log, "w") as output:
                api = subprocess.Popen(
                    [console_script("jobtower"), "api", "--host", "127.0.0.1", "--port", str(port)],
                    env=clean_environment() | {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url},
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                )
            try:
                wait_for_port(port, timeout=60)
                url = f"http://127.0.0.1:{port}"
                before = graphql_seconds(url)
                figures = measure(url, token, big_job, loads)
                after = graphql_seconds(url)
                figures["metrics_mean_ms"] = (after[1] - before[1]) / max(1.0, after[0] - before[0]) * 1000
                figures["server_ms"] = replay(url, token, figures["bodies"])
                figures["together_ms"] = replay_together(url, token, figures["bodies"])
            finally:
                api.terminate()
                api.wait(timeout=30)
    return report(figures, records, jobs, loads)


def report(figures: dict, records: int, jobs: int, loads: int) -> int:
    load = figures["load_ms"]
    print(f"\nJobs page, {jobs:,} jobs, the {records:,}-record run selected, {loads} loads in Chromium "
          f"(CPU cores here: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}):")
    print(f"  first load (navigation to runs and first records drawn): median {statistics.median(load):,.0f} ms"
          f"   first {load[0]:,.0f} ms   slowest {max(load):,.0f} ms")
    print(f"  GraphQL requests per load (HTTP; plus one WebSocket): {sorted(set(figures['requests']))}")
    print(f"  server time per query, each sent alone {REPLAYS} times (target p50 < {TARGET_QUERY_P50_MS} ms);"
          " sent together as the page sends them; in the page, to first byte:")
    slow = []
    for name, times in sorted(figures["server_ms"].items()):
        p50 = statistics.median(times)
        if p50 >= TARGET_QUERY_P50_MS:
            slow.append(name)
        in_page = figures["in_page_ms"][name]
        together = figures["together_ms"].get(name)
        shared = f"{statistics.median(together):6.1f} ms" if together else "   (first)"
        print(f"    {name:<13} alone p50 {p50:6.1f} ms  p90 {quantile(times, 0.9):6.1f} ms"
              f"   together p50 {shared}   in the page p50 {statistics.median(in_page):6.1f} ms")
    print(f"  in the page, from /metrics: {figures['metrics_mean_ms']:.1f} ms per GraphQL request on average"
          " (the loads and their scrolling), measured inside the API")
    js = sum(figures["js"].values())
    print(f"  JavaScript shipped, gzipped: {js / 1024:.1f} KiB in {len(figures['js'])} file(s)")
    print(f"  record table DOM rows: {max(figures['rows_first'])} after the first load, "
          f"{figures['rows_scrolled']} after scrolling {SCROLLED_PAGES} pages (target <= {MOST_ROWS})")
    if slow:
        print(f"  above the server-time target: {', '.join(slow)}")
    wrong = max(figures["rows_first"]) > MOST_ROWS or figures["rows_scrolled"] > MOST_ROWS
    if wrong:
        print("WRONG: the record table drew more rows than the target", file=sys.stderr)
    return 1 if wrong else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records of the big run (a multiple of 1,000)")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in all, the big run among them")
    parser.add_argument("--loads", type=int, default=5, help="page loads measured, each in a fresh browser context")
    args = parser.parse_args()
    if args.records % BIG_CHUNK or args.records < 10 * BIG_CHUNK:
        parser.error(f"--records must be a multiple of {BIG_CHUNK:,}, at least {10 * BIG_CHUNK:,}")
    if args.jobs < 100:
        parser.error("--jobs must be at least 100")
    raise SystemExit(run(args.records, args.jobs, args.loads))


if __name__ == "__main__":
    main()
