"""Live progress fan-out: how long a worker's progress takes to reach 500 WebSocket subscribers.

    .venv/bin/python -m bench.subscribers [--subscribers 500] [--workers 2] [--seconds 30]

It starts a throwaway PostgreSQL and Redis, a dispatcher, ``--workers`` real
``jobtower worker`` processes and one ``jobtower api`` (uvicorn), then opens
``--subscribers`` WebSocket connections, each subscribing once to
``jobUpdated`` of one running ``noop`` job (sleeping steps, so the workers stay
light and the API process is what is measured). For every PROGRESS event each
subscriber receives, the latency is the receipt time minus the event's ``at``,
which the worker stamps when it publishes. The clients share this process and
its clock with the workers' machine.

It prints p50, p99 and max against the target p99 < 100 ms; the floor (the same
events read by one plain XREAD in this process, the machine's own noise); the
CPU the API process used, per message delivered; and the clients' CPU. It is a
benchmark, not a test: it exits non-zero only when a subscriber misses or
repeats a status event. ``--py-spy FOLDER`` profiles the API process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import uvloop
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.bulk_cancel import run_on_services
from bench.throughput import cpu_seconds
from domain import db
from domain.access import Actor, Role
from domain.jobs import StartJobRequest, start_job
from domain.models import Job, JobEvent
from domain.registry import registry
from domain.statuses import TERMINAL, EventKind
from domain.tenants import create_tenant, create_token
from gql.ids import to_global_id
from tests.cluster import REPO, Cluster, wait_until
from tests.services import free_port, wait_for_port
from workers import keys
from workers.dispatcher import live_worker_slots
from workers.events import JobEventMessage
from workers.redis_server import EmbeddedRedis

TARGET_P99_MS = 100.0
JOB_TYPE_MODULES = ("jobtower.demo",)
PROTOCOL = Subprotocol("graphql-transport-ws")
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


async def subscribe(url: str, token: str, job_id: str, subscriber: Subscriber) -> None:
    try:
        async with connect(url, subprotocols=[PROTOCOL], open_timeout=120, max_queue=None, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            # afterSeq 0: the replayed CREATED says the server holds the subscription.
            variables = {"id": job_id, "afterSeq": 0}
            payload = {"query": SUBSCRIPTION, "variables": variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            while True:  # cancelled when the measurement ends
                raw = await ws.recv()
                received = time.time()
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
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
        subscriber.subscribed.set()


async def read_raw(redis: Redis, stream: str, latencies_ms: list[float], stop: asyncio.Event) -> None:
    """The floor: the same events read straight from Redis by a plain XREAD in this process."""
    position = "$"
    while not stop.is_set():
        replies = await redis.xread({stream: position}, block=500, count=1000)
        received = time.time()
        for _, entries in replies or ():
            for entry_id, fields in entries:
                position = entry_id
                message = JobEventMessage.decode(fields)
                if message.kind is EventKind.PROGRESS:
                    latencies_ms.append((received - datetime.fromisoformat(message.at).timestamp()) * 1000)


def _profile(pid: int, folder: Path) -> subprocess.Popen[bytes]:
    """py-spy on the API process (an investigation aid, not a dependency)."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "250",
         "--format", "raw", "--output", str(folder / "api.txt")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


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
    port = free_port()
    try:
        async with db.database(database_url, apply_migrations=True):
            tenant = await create_tenant("bench")
            token = (await create_token("bench", Role.VIEWER)).token
            cluster.start_dispatcher()
            for n in range(args.workers):
                cluster.start_worker(f"worker{n + 1}")
            api = subprocess.Popen(
                [sys.executable, "-m", "jobtower.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
                cwd=REPO,
                env=cluster.env(),
                stdout=open(log_dir / "api.log", "ab"),  # noqa: SIM115 - lives with the process
                stderr=subprocess.STDOUT,
            )
            cluster.processes["api"] = api
            wait_for_port(port, timeout=120)

            async def cluster_ready() -> bool:
                live, _ = await live_worker_slots(redis)
                return live >= args.workers and bool(await redis.exists(keys.DISPATCHER_LEADER))

            await wait_until(cluster_ready, timeout=120, interval=0.1, what="workers and a dispatcher")

            # Sleeping steps: the workers publish progress steadily without loading the machine.
            job = await start_job(
                Actor(tenant_id=tenant.id, role=Role.ADMIN, name="bench"),
                StartJobRequest(
                    type="noop",
                    params={"records": args.records, "steps": 1, "stepMs": args.step_ms},
                    chunk_size=args.chunk_size,
                ),
            )
            url = f"ws://127.0.0.1:{port}/graphql"
            stop = asyncio.Event()
            subscribers = [Subscriber(n) for n in range(args.subscribers)]
            tasks = []
            for subscriber in subscribers:
                job_id = str(to_global_id("Job", job.id))
                tasks.append(asyncio.create_task(subscribe(url, token, job_id, subscriber)))
                await asyncio.sleep(0.002)  # a steady stream of connections, not a SYN flood
            await asyncio.wait_for(asyncio.gather(*(s.subscribed.wait() for s in subscribers)), timeout=300)
            failed = [s for s in subscribers if s.error]
            print(f"{args.subscribers - len(failed)} subscribers connected ({len(failed)} failed)", flush=True)
            for subscriber in subscribers:
                subscriber.latencies_ms.clear()  # measure from when everybody listens
            raw_latencies: list[float] = []
            raw_reader = asyncio.create_task(read_raw(redis, keys.tenant_events(tenant.id), raw_latencies, stop))

            profiler = _profile(api.pid, args.py_spy) if args.py_spy else None
            cpu_before, began = cpu_seconds(api.pid), time.monotonic()
            messages_before = sum(s.messages for s in subscribers)
            client_cpu_before = time.process_time()
            deadline = began + args.seconds
            while time.monotonic() < deadline:
                current = await Job.get(id=job.id)
                if current.status in TERMINAL:
                    break
                await asyncio.sleep(0.5)
            elapsed = time.monotonic() - began
            api_cpu = cpu_seconds(api.pid) - cpu_before
            delivered_while_measured = sum(s.messages for s in subscribers) - messages_before
            client_cpu = time.process_time() - client_cpu_before
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                profiler.wait(timeout=60)
            final_status = (await Job.get(id=job.id)).status
            # Let the last status events arrive before the subscribers hang up.
            if final_status in TERMINAL:
                last_seq = (await Job.get(id=job.id)).seq

                async def all_have_it() -> bool:
                    return all(s.error or (s.status_seqs and s.status_seqs[-1] >= last_seq) for s in subscribers)

                await wait_until(all_have_it, timeout=60, what="the final status event everywhere")
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, raw_reader)

            recorded = await JobEvent.filter(job_id=job.id).order_by("seq").values_list("seq", flat=True)
            latencies = [value for s in subscribers for value in s.latencies_ms]
            messages = sum(s.messages for s in subscribers)
            gaps = [
                s.number for s in subscribers
                if not s.error and s.status_seqs != list(recorded)[: len(s.status_seqs)]
            ]
            errors = [s.error for s in subscribers if s.error]
    finally:
        cluster.stop_all()
        await redis.aclose()

    print(f"job: noop, {args.records:,} records, stepMs={args.step_ms}, {args.workers} workers; "
          f"{final_status.value} after the {elapsed:.1f} s measured")
    print(f"subscribers: {args.subscribers} on one API process, one WebSocket each")
    print(f"PROGRESS deliveries measured: {len(latencies):,} "
          f"({len(latencies) / max(1, args.subscribers):.1f} per subscriber); "
          f"messages delivered in all: {messages:,}")
    if latencies:
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        print(f"latency publish -> receipt: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
              f"max {max(latencies):.1f} ms, mean {statistics.fmean(latencies):.1f} ms")
        print(f"target: p99 < {TARGET_P99_MS:.0f} ms -> {'met' if p99 < TARGET_P99_MS else 'NOT met'}")
    if raw_latencies:
        print(f"floor, a plain XREAD here: p50 {percentile(raw_latencies, 0.5):.1f} ms, "
              f"p99 {percentile(raw_latencies, 0.99):.1f} ms ({len(raw_latencies)} events)")
    print(f"API process CPU: {api_cpu:.1f} s over {elapsed:.1f} s "
          f"({100 * api_cpu / max(elapsed, 1e-9):.0f}% of a core), "
          f"{1e6 * api_cpu / max(1, delivered_while_measured):.0f} us per message delivered")
    print(f"subscribers' process CPU (all {args.subscribers} clients): {client_cpu:.1f} s "
          f"({100 * client_cpu / max(elapsed, 1e-9):.0f}% of a core)")
    if errors:
        print(f"{len(errors)} subscribers failed, e.g. {errors[0]}")
    if gaps:
        print(f"{len(gaps)} subscribers missed or repeated a status event: {gaps[:10]}")
        return 1
    print("status events: every subscriber got each one, once, in seq order")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.subscribers", description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to measure")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--step-ms", type=float, default=1000.0)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a JOBTOWER_* setting")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--py-spy", type=Path, metavar="FOLDER", help="profile the API process into FOLDER")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    # uvloop keeps the clients' own overhead, which the latencies include, small.
    run_on_services("subscribers", bench, parse_args(argv), run=uvloop.run)


if __name__ == "__main__":
    main()
