"""The job detail's log in Chromium on a job of 50,000 lines: frame times while scrolling, DOM size.

    .venv/bin/python -m bench.logs [--lines 50000] [--step 600] [--live 2000]

It starts a throwaway PostgreSQL and Redis and writes straight into the database (server-side
``INSERT … SELECT generate_series``, no workers): one RUNNING job of 50,000 records in chunks of
5,000 and ``--lines`` log lines, each naming one of its records (so every page also finds its
records). Then it starts a real ``jobtower api`` serving the built console and opens the job in
the system's Chromium:

* first load: from navigation until the newest line is drawn;
* scrolling up to the oldest line, ``--step`` px a frame, then back down to the newest (the
  console holds 5,000 lines at most, so the way back reads pages again): each frame's time
  (``requestAnimationFrame`` deltas), the long tasks the page ran (``PerformanceObserver``,
  target: none over 200 ms), the most lines the DOM held at once, the page's element count and
  JS heap, and each page's time in the page, to first byte;
* following: ``--live`` lines written (and announced on Redis, as a worker's flushes are) 100
  at a time, ten batches a second, while the view follows: frame times, long tasks, and how long
  after the last batch the last line was drawn.

It is a benchmark, not a test: it prints figures and exits non-zero only when the page does
not show what it should or misses a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, Page, sync_playwright
from redis.asyncio import Redis

from bench.console import TOKEN_KEY
from bench.console_query import _chunks, _global_id, quantile
from domain import db
from domain.access import PrincipalKind, Role
from domain.clock import utcnow
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Job
from domain.partitions import shared_partition
from domain.statuses import JobStatus
from domain.tenants import create_tenant, create_token
from jobtower.settings import settings
from tests.cli import clean_environment, console_script
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.services import free_port, postgres_server, wait_for_port
from workers.progress import ProgressPublisher
from workers.redis_server import EmbeddedRedis

RECORDS = 50_000
CHUNK = 5_000
LIVE_BATCH = 100
LIVE_EVERY_SECONDS = 0.1
MOST_LINES = 60
LONGEST_TASK_MS = 200
SCROLL_LIMIT_MS = 600_000

# Scrolls the log by `step` px a frame until the line saying `until` is drawn, and reports each
# frame's time, the long tasks, the most lines drawn at once, the element count and the JS heap.
SCROLL = """async ([step, until, limitMs]) => {
    const box = document.querySelector(".log-scroll");
    const list = box.querySelector(".log-lines");
    const frames = [];
    const tasks = [];
    const lines = () => list.querySelectorAll("li.log-line").length;
    let most = lines();
    const longTasks = new PerformanceObserver((found) => tasks.push(...found.getEntries().map((e) => e.duration)));
    longTasks.observe({ type: "longtask" });
    const drawing = new MutationObserver(() => { most = Math.max(most, lines()); });
    drawing.observe(list, { childList: true, subtree: true });
    const drawn = () => [...list.querySelectorAll(".log-message")].some((message) => message.textContent === until);
    const began = performance.now();
    await new Promise((resolve) => {
        let last = began;
        function frame(now) {
            frames.push(now - last);
            last = now;
            if (drawn() || now - began > limitMs) return resolve();
            if (step) box.scrollTop += step;
            requestAnimationFrame(frame);
        }
        requestAnimationFrame(frame);
    });
    tasks.push(...longTasks.takeRecords().map((e) => e.duration));
    longTasks.disconnect();
    drawing.disconnect();
    return {
        frames, tasks, most, reached: drawn(), seconds: (performance.now() - began) / 1000,
        drawnAt: Date.now(), elements: document.getElementsByTagName("*").length,
        heap: performance.memory ? performance.memory.usedJSHeapSize : null,
    };
}"""


def line_message(number: int) -> str:
    return f"synced contact-{number % RECORDS}, line {number}"


async def seed(database_url: str, lines: int) -> tuple[str, int, float]:
    """The job, its chunks and records, and its lines; the viewer's token, the job's id, seconds."""
    began = time.perf_counter()
    await db.migrate(database_url)
    async with db.database(database_url):
        tenant = await create_tenant("bench", "Bench")
        viewer = await create_token("bench", Role.VIEWER, "console", PrincipalKind.USER)
        operator = await create_token("bench", Role.OPERATOR, "ops bot")
        now = utcnow()
        started = now - timedelta(days=1)
        job = await Job.create(
            tenant_id=tenant.id, partition_id=await shared_partition(now), type="noop", params={},
            step_names=["step1"], run_by_id=operator.principal.id, enumerated=True, seq=1, started_at=started,
            name=f"log flood ({lines:,} lines)", status=JobStatus.RUNNING, chunk_size=CHUNK, total=RECORDS,
            done=RECORDS, succeeded=RECORDS,
        )
        await Job.filter(id=job.id).update(root_id=job.id)
        await _chunks([job.id], RECORDS, CHUNK, started, now)
        await db.fetch(
            "INSERT INTO record (job_id, partition_id, chunk_id, position, key, status, attempts, started_at, ended_at,"
            " journey) SELECT c.job_id, ?, c.id, p, 'contact-' || p, 'SUCCEEDED', 1, ?, ?, '[]'"
            " FROM chunk c CROSS JOIN LATERAL generate_series(c.range_start, c.range_end - 1) AS p WHERE c.job_id = ?",
            [job.partition_id, started, now, job.id],
        )
        # A line a second, levels taking turns, every 100th with fields, each naming a record.
        await db.fetch(
            "INSERT INTO job_log (job_id, partition_id, at, level, message, fields, chunk_index, record_key)"
            " SELECT ?, ?, CAST(? AS TIMESTAMPTZ) + n * INTERVAL '1 second',"
            " (ARRAY['DEBUG', 'INFO', 'WARNING', 'ERROR'])[n % 4 + 1],"
            " 'synced contact-' || (n % ?) || ', line ' || n,"
            " CASE WHEN n % 100 = 0 THEN CAST('{\"attempt\": 2, \"endpoint\": \"/contacts\"}' AS JSONB)"
            " ELSE CAST('{}' AS JSONB) END,"
            " (n % ?) / ?, 'contact-' || (n % ?) FROM generate_series(0, ? - 1) AS n",
            [job.id, job.partition_id, started, RECORDS, RECORDS, CHUNK, RECORDS, lines],
        )
        await db.fetch("VACUUM ANALYZE", [])
        return viewer.token, job.id, time.perf_counter() - began


def write_live(database_url: str, redis_url: str, job_id: int, count: int, written: dict[str, float]) -> None:
    """``count`` lines, a batch at a time, each batch announced as a worker's flush is."""

    async def write() -> None:
        async with db.database(database_url):
            redis = Redis.from_url(redis_url)
            publisher = ProgressPublisher(redis)
            try:
                for start in range(0, count, LIVE_BATCH):
                    batch = [
                        LogLine(job_id, LogLevel.INFO, f"live line {number}")
                        for number in range(start, min(count, start + LIVE_BATCH))
                    ]
                    await write_logs(batch)
                    await publisher.logs(batch)
                    written["last"] = time.time()
                    await asyncio.sleep(LIVE_EVERY_SECONDS)
            finally:
                await redis.aclose()

    asyncio.run(write())


def measure(url: str, token: str, job_id: int, lines: int, step: int, live: int, database_url: str, redis_url: str) -> dict:
    figures: dict[str, Any] = {"pages_ms": []}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        processes = browser.new_browser_cdp_session()
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        # Signed in as a reader who already gave the token in this tab.
        context.add_init_script(f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)})")
        page = context.new_page()
        page.on("requestfinished", lambda request: _page_time(request, figures["pages_ms"]))
        began = time.perf_counter()
        page.goto(f"{url}/jobs/{_global_id(job_id)}")
        newest = line_message(lines - 1)
        page.locator(".log-message", has_text=newest).wait_for()
        figures["load_ms"] = (time.perf_counter() - began) * 1000
        page.get_by_role("region", name="Log", exact=True).scroll_into_view_if_needed()
        figures["up"] = scroll(page, processes, -step, line_message(0))
        figures["down"] = scroll(page, processes, step, newest)
        if live:
            follow = page.get_by_role("button", name="Follow", exact=True)
            if follow.get_attribute("aria-pressed") != "true":
                follow.click()
            written: dict[str, float] = {}
            writer = threading.Thread(target=write_live, args=(database_url, redis_url, job_id, live, written))
            writer.start()
            figures["follow"] = scroll(page, processes, 0, f"live line {live - 1}")
            writer.join()
            figures["follow"]["lag_ms"] = figures["follow"]["drawnAt"] - written["last"] * 1000
        context.close()
        browser.close()
    return figures


def _page_time(request: Any, times: list[float]) -> None:
    if request.url.endswith("/graphql") and "query JobLogs" in (request.post_data or ""):
        timing = request.timing
        times.append(timing["responseStart"] - timing["requestStart"])


def scroll(page: Page, processes: CDPSession, step: int, until: str) -> dict:
    """SCROLL's figures, and the CPU seconds the page's renderer used meanwhile: on a loaded
    machine frame times grow with the load, the CPU the page needs does not."""
    before = renderer_cpu_seconds(processes)
    figures = page.evaluate(SCROLL, [step, until, SCROLL_LIMIT_MS])
    figures["cpu_s"] = renderer_cpu_seconds(processes) - before
    if not figures["reached"]:
        raise SystemExit(f"WRONG: the line {until!r} was never drawn")
    return figures


def renderer_cpu_seconds(processes: CDPSession) -> float:
    found = processes.send("SystemInfo.getProcessInfo")["processInfo"]
    return sum(process["cpuTime"] for process in found if process["type"] == "renderer")


def run(lines: int, step: int, live: int) -> int:
    with tempfile.TemporaryDirectory(prefix="jobtower-bench-") as folder, postgres_server() as database_url:
        with EmbeddedRedis(Path(folder) / "redis") as redis_server:
            token, job_id, seconds = asyncio.run(seed(database_url, lines))
            print(f"seeded {lines:,} log lines and {RECORDS:,} records in PostgreSQL in {seconds:.1f} s", flush=True)
            port = free_port()
            log = Path(folder) / "api.log"
            with open(log, "w") as output:
                api = subprocess.Popen(
                    [console_script("jobtower"), "api", "--host", "127.0.0.1", "--port", str(port)],
                    env=clean_environment()
                    | {
                        "DATABASE_URL": database_url,
                        "REDIS_URL": redis_server.url,
                        # The API opens the ids this process seals (_global_id): the same secret.
                        "JOBTOWER_ID_SECRET": settings.resolved_id_secret().decode(),
                    },
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                )
            try:
                wait_for_port(port, timeout=60)
                figures = measure(
                    f"http://127.0.0.1:{port}", token, job_id, lines, step, live, database_url, redis_server.url
                )
            finally:
                api.terminate()
                api.wait(timeout=30)
    return report(figures, lines, step, live)


def frame_line(name: str, phase: dict) -> str:
    frames = phase["frames"][1:]  # the first counts from before the loop
    tasks = phase["tasks"]
    return (
        f"  {name}: {len(frames):,} frames in {phase['seconds']:.1f} s; frame p50 {statistics.median(frames):.1f} ms"
        f"  p95 {quantile(frames, 0.95):.1f}  p99 {quantile(frames, 0.99):.1f}  max {max(frames):.0f} ms;"
        f" long tasks {len(tasks)} (longest {max(tasks, default=0):.0f} ms); lines drawn at most {phase['most']};"
        f" renderer CPU {phase['cpu_s']:.1f} s"
    )


def report(figures: dict, lines: int, step: int, live: int) -> int:
    print(f"\nThe job detail's log, {lines:,} lines, in Chromium (CPU cores here: {os.cpu_count()},"
          f" load average {os.getloadavg()[0]:.1f}):")
    print(f"  first load (navigation to the newest line drawn): {figures['load_ms']:,.0f} ms")
    phases = [("scrolling up to the oldest", figures["up"]), ("scrolling back down to the newest", figures["down"])]
    if live:
        phases.append((f"following {live:,} lines written {LIVE_BATCH} at a time", figures["follow"]))
    for name, phase in phases:
        print(frame_line(name, phase))
    pages = figures["pages_ms"]
    print(f"  log pages read (100 lines each, with their records): {len(pages)}; in the page, to first byte: p50 {statistics.median(pages):.1f} ms"
          f"  p90 {quantile(pages, 0.9):.1f} ms  max {max(pages):.0f} ms")
    end = figures["down"]
    heap = f"{end['heap'] / 2**20:.0f} MiB" if end["heap"] else "unknown"
    print(f"  after scrolling both ways: {end['elements']:,} elements in the document, JS heap {heap}")
    if live:
        print(f"  the last live line drawn {figures['follow']['lag_ms']:,.0f} ms after its batch was written")
    longest = max(max(phase["tasks"], default=0) for _, phase in phases)
    most = max(phase["most"] for _, phase in phases)
    wrong = []
    if longest > LONGEST_TASK_MS:
        wrong.append(f"a task ran {longest:.0f} ms (target: none over {LONGEST_TASK_MS} ms)")
    if most > MOST_LINES:
        wrong.append(f"the DOM held {most} lines at once (target <= {MOST_LINES})")
    for problem in wrong:
        print(f"WRONG: {problem}", file=sys.stderr)
    return 1 if wrong else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50_000, help="log lines of the job")
    parser.add_argument("--step", type=int, default=400, help="px the log scrolls a frame")
    parser.add_argument("--live", type=int, default=2_000, help="lines written while following (0: none)")
    args = parser.parse_args()
    if args.lines < 1_000 or args.step < 1:
        parser.error("--lines must be at least 1,000 and --step at least 1")
    raise SystemExit(run(args.lines, args.step, args.live))


if __name__ == "__main__":
    main()
