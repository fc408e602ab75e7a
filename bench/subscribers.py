"""Live progress fan-out: how long a worker's progress takes to reach 500 to 2,000 WebSocket
subscribers on one or two API processes, and the API's CPU per message delivered.

    .venv/bin/python -m bench.subscribers [--subscribers 500 1000 2000] [--api-processes 1 2]
        [--workers 2] [--seconds 30] [--py-spy FOLDER]

It starts a throwaway PostgreSQL and Redis, a dispatcher, ``--workers`` real
``jobtower worker`` processes and one running ``noop`` job (sleeping steps, so the
workers stay light and the API processes are what is measured). Then, for each
count of API processes and each count of subscribers, it starts that many
``jobtower api`` processes (uvicorn, each on its own port, as behind a load
balancer) and opens the subscribers' WebSocket connections, spread evenly over
them, each subscribing once to ``jobUpdated`` of the job. Ten subscribers share a
token (a viewer with ten screens open): every principal stays within its
connection and subscription limits. For every PROGRESS event a subscriber
receives, the latency is the receipt time minus the event's ``at``, which the
worker stamps when it publishes. The clients share this process and its clock
with the workers' machine.

Each run prints p50, p99 and max against the target p99 < 100 ms; the floor (the
same events read by one plain XREAD in this process, the machine's own noise); the
CPU the API processes used, per message delivered; and the clients' CPU. A table
of every run ends the output. It is a benchmark, not a test: it exits non-zero only
when a subscriber misses or repeats a status event. ``--py-spy FOLDER`` profiles
the API processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import uvloop
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from bench.bulk_cancel import run_on_services
from bench.throughput import cpu_seconds
from domain import db
from domain.access import Actor, Role
from domain.jobs import StartJobRequest, start_job, stop_job
from domain.models import Job, JobEvent, Tenant
from domain.registry import registry
from domain.statuses import TERMINAL, EventKind
from domain.tenants import create_tenant, create_token
from gql.ids import to_global_id
from tests.cluster import Cluster, wait_until
from tests.services import free_port
from workers import keys
from workers.dispatcher import live_worker_slots
from workers.events import JobEventMessage
from workers.redis_server import EmbeddedRedis

TARGET_P99_MS = 100.0
# A viewer with this many screens open: within the connection and subscription limits per principal.
SUBSCRIBERS_PER_TOKEN = 10
JOB_TYPE_MODULES = ("jobtower.demo",)
PROTOCOL = "graphql-transport-ws"
SUBSCRIPTION = """
subscription($id: ID!, $afterSeq: Int) {
  jobUpdated(id: $id, afterSeq: $afterSeq) {
    seq kind at
    job { id status progress { done total percent } }
  }
}"""


@dataclass
class Subscriber:
    number: int
    latencies_ms: list[float] = field(default_factory=list)
    status_seqs: list[int] = field(default_factory=list)
    messages: int = 0
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None


async def subscribe(
    session: aiohttp.ClientSession, url: str, token: str, job_id: str, subscriber: Subscriber
) -> None:
    try:
        async with session.ws_connect(url, protocols=[PROTOCOL], compress=0, max_msg_size=0) as ws:
            await ws.send_str(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            ack = json.loads(await ws.receive_str())
            assert ack["type"] == "connection_ack", ack
            # afterSeq 0: the replayed CREATED says the server holds the subscription.
            variables = {"id": job_id, "afterSeq": 0}
            payload = {"query": SUBSCRIPTION, "variables": variables}
            await ws.send_str(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            while True:  # cancelled when the measurement ends
                raw = await ws.receive_str()
                received = time.time()
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send_str(json.dumps({"type": "pong"}))
                    continue
                if message["type"] != "next":
                    subscriber.error = f"unexpected {message}"
                    return
                if message["payload"].get("errors"):
                    subscriber.error = f"errors {message['payload']['errors']}"
                    return
                event = message["payload"]["data"]["jobUpdated"]
                subscriber.messages += 1
                if event["kind"] == EventKind.PROGRESS.value:
                    published = datetime.fromisoformat(event["at"]).timestamp()
                    subscriber.latencies_ms.append((received - published) * 1000)
                else:
                    subscriber.status_seqs.append(event["seq"])
                    subscriber.subscribed.set()
    except asyncio.CancelledError:
        return
    except Exception as error:  # reported with the figures
        subscriber.error = f"{type(error).__name__}: {error}"
    finally:
        subscriber.subscribed.set()  # a subscriber that got no replay is counted as failed


async def read_raw(redis: Redis, stream: str, latencies_ms: list[float], stop: asyncio.Event) -> None:
    """The floor: the same events read straight from Redis by a plain XREAD in this process."""
    position = "$"
    while not stop.is_set():
        try:
            replies = await redis.xread({stream: position}, block=500, count=1000)
        except RedisTimeoutError:
            continue  # this process is starved of CPU: the floor it reports shows it
        received = time.time()
        for _, entries in replies or ():
            for entry_id, fields in entries:
                position = entry_id
                message = JobEventMessage.decode(fields)
                if message.kind is EventKind.PROGRESS:
                    latencies_ms.append((received - datetime.fromisoformat(message.at).timestamp()) * 1000)


def _profile(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy on an API process (an investigation aid, not a dependency)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "250",
         "--format", "raw", "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class Run:
    """What one count of subscribers on one count of API processes measured."""

    subscribers: int
    api_processes: int
    connected: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    messages: int = 0
    elapsed: float = 0.0
    api_cpu: float = 0.0
    client_cpu: float = 0.0
    errors: list[str] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)

    @property
    def us_per_message(self) -> float:
        return 1e6 * self.api_cpu / max(1, self.messages)

    def p(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction) if self.latencies_ms else float("nan")


async def measure(
    cluster: Cluster, redis: Redis, tenant: Tenant, tokens: list[str], run: Run, args: argparse.Namespace
) -> None:
    admin = Actor(tenant_id=tenant.id, role=Role.ADMIN, name="bench")
    # A job of the run's own. Sleeping steps: the workers publish progress steadily without
    # loading the machine.
    job = await start_job(
        admin,
        StartJobRequest(
            type="noop",
            params={"records": args.records, "steps": 1, "stepMs": args.step_ms},
            chunk_size=args.chunk_size,
        ),
    )
    names = [f"api-{run.api_processes}x{run.subscribers}-{n + 1}" for n in range(run.api_processes)]
    ports = [free_port() for _ in names]
    apis = [cluster.start_api(port, name) for port, name in zip(ports, names, strict=True)]
    stop = asyncio.Event()
    subscribers = [Subscriber(n) for n in range(run.subscribers)]
    tasks = []
    # One session holds every subscriber's connection (no limit on their number): aiohttp reads
    # frames in C, so this process spends its CPU on a frame's JSON, not on reading it.
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None, connect=120)
    )
    try:
        job_id = str(to_global_id("Job", job.id))
        for subscriber in subscribers:
            url = f"ws://127.0.0.1:{ports[subscriber.number % len(ports)]}/graphql"
            token = tokens[subscriber.number // SUBSCRIBERS_PER_TOKEN]
            tasks.append(asyncio.create_task(subscribe(session, url, token, job_id, subscriber)))
            await asyncio.sleep(0.002)  # a steady stream of connections, not a SYN flood
        await asyncio.wait_for(asyncio.gather(*(s.subscribed.wait() for s in subscribers)), timeout=300)
        run.connected = sum(1 for s in subscribers if not s.error)
        print(f"{run.connected} of {run.subscribers} subscribers on {run.api_processes} API processes", flush=True)
        for subscriber in subscribers:
            subscriber.latencies_ms.clear()  # measure from when everybody listens
        raw_reader = asyncio.create_task(read_raw(redis, keys.tenant_events(tenant.id), run.floor_ms, stop))
        profilers = [
            _profile(api.pid, args.py_spy / f"{name}.txt") for api, name in zip(apis, names, strict=True)
        ] if args.py_spy else []
        cpu_before, began = sum(cpu_seconds(api.pid) for api in apis), time.monotonic()
        messages_before = sum(s.messages for s in subscribers)
        client_cpu_before = time.process_time()
        await asyncio.sleep(args.seconds)
        run.elapsed = time.monotonic() - began
        run.api_cpu = sum(cpu_seconds(api.pid) for api in apis) - cpu_before
        run.messages = sum(s.messages for s in subscribers) - messages_before
        run.client_cpu = time.process_time() - client_cpu_before
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
            profiler.wait(timeout=60)
        stop.set()
        await raw_reader
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks)
        await session.close()
        for name in names:
            cluster.kill(name, signal.SIGTERM)
    if (await Job.get(id=job.id)).status in TERMINAL:
        run.errors.append("the job ended before the measurement did: raise --records")
    else:
        await stop_job(admin, job.id)
    recorded = await JobEvent.filter(job_id=job.id).order_by("seq").values_list("seq", flat=True)
    run.latencies_ms = [value for s in subscribers for value in s.latencies_ms]
    run.errors += [s.error for s in subscribers if s.error]
    run.gaps = [
        s.number for s in subscribers if not s.error and s.status_seqs != list(recorded)[: len(s.status_seqs)]
    ]


def report(run: Run) -> None:
    print(f"PROGRESS deliveries measured: {len(run.latencies_ms):,} "
          f"({len(run.latencies_ms) / max(1, run.subscribers):.1f} per subscriber); "
          f"messages delivered while measured: {run.messages:,}")
    if run.latencies_ms:
        print(f"latency publish -> receipt: p50 {run.p(0.5):.1f} ms, p99 {run.p(0.99):.1f} ms, "
              f"max {max(run.latencies_ms):.1f} ms, mean {statistics.fmean(run.latencies_ms):.1f} ms; "
              f"target p99 < {TARGET_P99_MS:.0f} ms {'met' if run.p(0.99) < TARGET_P99_MS else 'NOT met'}")
    if run.floor_ms:
        print(f"floor, a plain XREAD here: p50 {percentile(run.floor_ms, 0.5):.1f} ms, "
              f"p99 {percentile(run.floor_ms, 0.99):.1f} ms ({len(run.floor_ms)} events)")
    print(f"API CPU: {run.api_cpu:.1f} s over {run.elapsed:.1f} s "
          f"({100 * run.api_cpu / max(run.elapsed, 1e-9):.0f}% of a core), "
          f"{run.us_per_message:.0f} us per message delivered")
    print(f"subscribers' process CPU: {run.client_cpu:.1f} s ({100 * run.client_cpu / max(run.elapsed, 1e-9):.0f}% "
          f"of a core); load average {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    if run.errors:
        print(f"{len(run.errors)} subscribers failed, e.g. {run.errors[0]}")
    if run.gaps:
        print(f"{len(run.gaps)} subscribers missed or repeated a status event: {run.gaps[:10]}")
    else:
        print("status events: every subscriber got each one, once, in seq order")


async def bench(database_url: str, redis_server: EmbeddedRedis, log_dir: Path, args: argparse.Namespace) -> int:
    registry.load(JOB_TYPE_MODULES)
    cluster = Cluster(
        database_url=database_url,
        redis_url=redis_server.url,
        log_dir=log_dir,
        settings=dict(kv.split("=", 1) for kv in args.set),
        job_type_modules=JOB_TYPE_MODULES,
    )
    redis = Redis.from_url(redis_server.url)
    runs = []
    try:
        async with db.database(database_url, apply_migrations=True):
            tenant = await create_tenant("bench")
            tokens = [
                (await create_token("bench", Role.VIEWER, f"viewer {n}")).token
                for n in range(-(-max(args.subscribers) // SUBSCRIBERS_PER_TOKEN))
            ]
            cluster.start_dispatcher()
            for n in range(args.workers):
                cluster.start_worker(f"worker{n + 1}")

            async def cluster_ready() -> bool:
                live, _ = await live_worker_slots(redis)
                return live >= args.workers and bool(await redis.exists(keys.DISPATCHER_LEADER))

            await wait_until(cluster_ready, timeout=120, interval=0.1, what="workers and a dispatcher")
            print(f"each run's job: noop, {args.records:,} records, stepMs={args.step_ms}, {args.workers} workers",
                  flush=True)
            for processes in args.api_processes:
                for count in args.subscribers:
                    run = Run(count, processes)
                    print(f"-- {count} subscribers, {processes} API process{'es' if processes > 1 else ''}", flush=True)
                    await measure(cluster, redis, tenant, tokens, run, args)
                    report(run)
                    runs.append(run)
    finally:
        cluster.stop_all()
        await redis.aclose()

    print("\n| subscribers | API processes | p50 ms | p99 ms | API CPU us / message | API CPU % of a core |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        print(f"| {run.subscribers:,} | {run.api_processes} | {run.p(0.5):.1f} | {run.p(0.99):.1f} | "
              f"{run.us_per_message:.0f} | {100 * run.api_cpu / max(run.elapsed, 1e-9):.0f} |")
    return 1 if any(run.gaps for run in runs) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.subscribers", description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[500], metavar="N")
    parser.add_argument("--api-processes", type=int, nargs="+", default=[1], choices=(1, 2), metavar="1|2")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to measure each run")
    parser.add_argument("--records", type=int, default=1_000_000, help="each run's job's; it is stopped after the run")
    parser.add_argument("--step-ms", type=float, default=1000.0)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a JOBTOWER_* setting")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--py-spy", type=Path, metavar="FOLDER", help="profile the API processes into FOLDER")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    # uvloop keeps the clients' own overhead, which the latencies include, small.
    run_on_services("subscribers", bench, parse_args(argv), run=uvloop.run)


if __name__ == "__main__":
    main()
