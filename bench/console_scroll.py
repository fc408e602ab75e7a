"""The Jobs page's run list in Chromium, scrolled through 10,000 runs: frame times, long tasks, DOM size.

    .venv/bin/python -m bench.console_scroll [--jobs 10000] [--step 400] [--profile FILE]

It seeds a throwaway PostgreSQL as ``bench.console`` does (``--jobs`` jobs, one of them with
10,000 records; no workers, so nothing moves), starts a real ``jobtower api`` serving the built
console, and opens the Jobs page in the system's Chromium, signed in with a viewer's token:

* baseline, the first screen left idle for a few seconds: frame times (``requestAnimationFrame``
  deltas), long tasks (``PerformanceObserver``), rows drawn and elements in the document;
* scrolling the run list from the first run to the last, ``--step`` px a frame (the list reads
  the next page of 50 as the reader nears the last one loaded): the same figures, the most rows
  and elements the document held at once, the JS heap at the end, the renderer's CPU, the
  pages of runs read (time to first byte in the page), and where the renderer's main thread
  spent its time (Chromium's ``Performance.getMetrics``: script, style, layout, all tasks).

``--profile FILE`` also records a CPU profile of the renderer's main thread while it scrolls
(Chromium's ``Profiler``; FILE opens in Chrome's DevTools) and prints the functions it spent the
most time in (build the console with ``--minify false`` to read their names).

Targets: no task over 200 ms while scrolling, and a DOM that stays the size of a screen. It is
a benchmark, not a test: it prints figures and exits non-zero when the page does not show what
it should or misses a target. Build the console first (``bash scripts/build-console``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, sync_playwright

from bench.console import TOKEN_KEY, operation, seed
from bench.console_query import BIG_CHUNK, quantile
from bench.logs import renderer_cpu_seconds
from tests.cli import clean_environment
from tests.cluster import api_process
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.services import postgres_server
from workers.redis_server import EmbeddedRedis

RECORDS = 10 * BIG_CHUNK
LONGEST_TASK_MS = 200
# Rows in view at 800 px and the virtualizer's overscan either side, with room to spare.
MOST_ROWS = 40
IDLE_MS = 3_000
SCROLL_LIMIT_MS = 600_000
# Chromium's counters of the main thread's seconds, by what it did.
MAIN_THREAD = {"ScriptDuration": "script", "RecalcStyleDuration": "style", "LayoutDuration": "layout", "TaskDuration": "all tasks"}

# Scrolls the run list by `step` px a frame (none: stays idle for `limitMs`) until its last run
# is drawn, and reports each frame's time, the long tasks, the most rows and elements at once.
SCROLL = """async ([step, limitMs]) => {
    const box = document.querySelector(".run-scroll");
    const list = box.querySelector(".run-list");
    const frames = [];
    const tasks = [];
    const rows = () => list.querySelectorAll("li.run").length;
    const elements = () => document.getElementsByTagName("*").length;
    let mostRows = rows();
    let mostElements = elements();
    const longTasks = new PerformanceObserver((found) => tasks.push(...found.getEntries().map((e) => e.duration)));
    longTasks.observe({ type: "longtask" });
    const drawing = new MutationObserver(() => {
        mostRows = Math.max(mostRows, rows());
        mostElements = Math.max(mostElements, elements());
    });
    drawing.observe(list, { childList: true, subtree: true });
    const total = Number(list.querySelector("li.run").getAttribute("aria-setsize"));
    const atEnd = () => list.querySelector(`li.run[aria-posinset="${total}"]`) !== null;
    const began = performance.now();
    await new Promise((resolve) => {
        let last = began;
        function frame(now) {
            frames.push(now - last);
            last = now;
            if ((step && atEnd()) || now - began > limitMs) return resolve();
            if (step) box.scrollTop += step;
            requestAnimationFrame(frame);
        }
        requestAnimationFrame(frame);
    });
    tasks.push(...longTasks.takeRecords().map((e) => e.duration));
    longTasks.disconnect();
    drawing.disconnect();
    return {
        frames, tasks, total, reached: atEnd(), seconds: (performance.now() - began) / 1000,
        rows: rows(), mostRows, elements: elements(), mostElements,
        heap: performance.memory ? performance.memory.usedJSHeapSize : null,
    };
}"""


def measure(url: str, token: str, step: int, profile: Path | None) -> dict[str, Any]:
    pages: list[float] = []

    def page_time(request: Any) -> None:
        if request.url.endswith("/graphql") and operation(request.post_data) == "Runs":
            timing = request.timing
            pages.append(timing["responseStart"] - timing["requestStart"])

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        processes = browser.new_browser_cdp_session()
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        # Signed in as a reader who already gave the token in this tab.
        context.add_init_script(f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)})")
        page = context.new_page()
        page.on("requestfinished", page_time)
        main_thread = context.new_cdp_session(page)
        main_thread.send("Performance.enable")
        page.goto(f"{url}/jobs")
        page.locator(".run-list li.run").first.wait_for()
        figures = {}
        for name, pixels, limit in (("idle", 0, IDLE_MS), ("scroll", step, SCROLL_LIMIT_MS)):
            before, spent = renderer_cpu_seconds(processes), main_thread_seconds(main_thread)
            profiling = profile is not None and name == "scroll"
            if profiling:
                main_thread.send("Profiler.enable")
                main_thread.send("Profiler.start")
            figures[name] = page.evaluate(SCROLL, [pixels, limit])
            if profiling:
                figures["profile"] = main_thread.send("Profiler.stop")["profile"]
            figures[name]["cpu_s"] = renderer_cpu_seconds(processes) - before
            after = main_thread_seconds(main_thread)
            figures[name]["main_s"] = {key: after[key] - spent[key] for key in after}
        figures["pages_ms"] = pages
        context.close()
        browser.close()
    if not figures["scroll"]["reached"]:
        raise SystemExit(f"WRONG: the last of {figures['scroll']['total']:,} runs was never drawn")
    return figures


def hottest(profile: dict[str, Any], shown: int = 20) -> str:
    """The functions the profile spent the most time in, their own time (not their callees')."""
    nodes = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    spent: dict[str, float] = {}
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = nodes[node_id]
        place = f"{frame['functionName'] or '(anonymous)'} {Path(frame['url']).name}:{frame['lineNumber'] + 1}"
        spent[place] = spent.get(place, 0.0) + delta / 1000
    total = sum(spent.values())
    lines = [f"  CPU profile of the scroll, {total / 1000:.1f} s sampled; own time:"]
    for place, ms in sorted(spent.items(), key=lambda item: -item[1])[:shown]:
        lines.append(f"    {ms / total:6.1%}  {ms / 1000:6.1f} s  {place.strip()}")
    return "\n".join(lines)


def main_thread_seconds(session: CDPSession) -> dict[str, float]:
    metrics = {metric["name"]: metric["value"] for metric in session.send("Performance.getMetrics")["metrics"]}
    return {label: metrics[name] for name, label in MAIN_THREAD.items()}


def run(jobs: int, step: int, profile: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="jobtower-bench-") as folder, postgres_server() as database_url:
        with EmbeddedRedis(Path(folder) / "redis") as redis_server:
            token, _, seconds = asyncio.run(seed(database_url, RECORDS, jobs))
            print(f"seeded {jobs:,} jobs in PostgreSQL in {seconds:.1f} s", flush=True)
            env = clean_environment() | {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url}
            with api_process(env, Path(folder) / "api.log") as port:
                figures = measure(f"http://127.0.0.1:{port}", token, step, profile)
    if profile is not None:
        profile.write_text(json.dumps(figures["profile"]))
        print(hottest(figures["profile"]))
    return report(figures, step)


def frame_line(name: str, phase: dict[str, Any]) -> str:
    frames = phase["frames"][1:]  # the first counts from before the loop
    tasks = phase["tasks"]
    over = sum(1 for task in tasks if task > LONGEST_TASK_MS)
    return (
        f"  {name}: {len(frames):,} frames in {phase['seconds']:.1f} s; frame p50 {statistics.median(frames):.1f} ms"
        f"  p95 {quantile(frames, 0.95):.1f}  max {max(frames):.0f} ms; long tasks {len(tasks)}"
        f" ({over} over {LONGEST_TASK_MS} ms, longest {max(tasks, default=0):.0f} ms);"
        f" rows drawn at most {phase['mostRows']}; elements {phase['elements']:,} (at most {phase['mostElements']:,});"
        f" renderer CPU {phase['cpu_s']:.1f} s"
        f"\n    main thread: {', '.join(f'{label} {seconds:.1f} s' for label, seconds in phase['main_s'].items())}"
    )


def report(figures: dict[str, Any], step: int) -> int:
    idle, scroll = figures["idle"], figures["scroll"]
    print(f"\nThe Jobs page's run list, {scroll['total']:,} runs, in Chromium, {step} px a frame"
          f" (CPU cores here: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}):")
    print(frame_line(f"baseline, the first screen idle {IDLE_MS / 1000:.0f} s", idle))
    print(frame_line("scrolling from the first run to the last", scroll))
    pages = figures["pages_ms"]
    print(f"  pages of runs read (50 each): {len(pages)}; in the page, to first byte: p50 {statistics.median(pages):.1f} ms"
          f"  p90 {quantile(pages, 0.9):.1f} ms  max {max(pages):.0f} ms")
    heap = f"{scroll['heap'] / 2**20:.0f} MiB" if scroll["heap"] else "unknown"
    print(f"  after scrolling: JS heap {heap}")
    wrong = []
    longest = max(scroll["tasks"], default=0)
    if longest > LONGEST_TASK_MS:
        wrong.append(f"a task ran {longest:.0f} ms while scrolling (target: none over {LONGEST_TASK_MS} ms)")
    if scroll["mostRows"] > MOST_ROWS:
        wrong.append(f"the DOM held {scroll['mostRows']} rows at once (target <= {MOST_ROWS})")
    for problem in wrong:
        print(f"WRONG: {problem}", file=sys.stderr)
    return 1 if wrong else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in the list")
    parser.add_argument("--step", type=int, default=400, help="px the list scrolls a frame")
    parser.add_argument("--profile", type=Path, help="write a CPU profile of the scroll here (.cpuprofile)")
    args = parser.parse_args()
    if args.jobs < 100 or args.step < 1:
        parser.error("--jobs must be at least 100 and --step at least 1")
    raise SystemExit(run(args.jobs, args.step, args.profile))


if __name__ == "__main__":
    main()
