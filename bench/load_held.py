"""Load held: queries and live events answered on time while a big job runs.

    .venv/bin/python -m bench.load_held [--records 1000000] [--subscribers 500]
        [--queries-per-second 200] [--workers 2] [--baseline-seconds 20] [--max-seconds 600]

It starts a throwaway PostgreSQL and Redis, two ``jobtower api`` processes (each on a port of
its own, as behind a load balancer), ``--workers`` workers and a dispatcher, and one ``noop``
job of ``--records`` instant records. The job is stopped before any worker runs, and
``--subscribers`` WebSocket clients subscribe to its ``jobUpdated``, half on each API
process. Then, over loopback:

1. **Baseline**: ``--queries-per-second`` GraphQL queries a second (a console's mix: the job
   with its chunks, the job list, live ops), spread over both API processes, for
   ``--baseline-seconds``, while the subscribers stay connected and nothing runs;
2. **Under load**: the job is resumed, and the same queries run until it has finished (at
   most ``--max-seconds``).

It prints the queries' p50/p99 in both phases and the rate achieved, the p50/p99 of event
delivery (a PROGRESS event's receipt minus its ``at``, which the worker stamps when it
publishes; the clients share the machine's clock), every error (there must be none), and the
memory of every process, sampled each second: RSS of each API process, worker, the dispatcher
and Redis, and the PSS of all of PostgreSQL's processes together (PSS counts their shared
buffers once). The request loops are bounded in count and in time; the clients are
``tests.gql.failover``'s (reconnecting subscribers, paced query loops). The request limits
are raised for the run (``--set`` overrides them): a deployment serving 200 queries a second
from one tenant raises them too. It exits non-zero on any error, a missed or repeated
event, or a job that did not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import uvloop
from redis.asyncio import Redis

from bench.bulk_cancel import run_on_services
from bench.throughput import CpuMeter, RssSampler, postgres_pids
from domain import db
from domain.access import Actor, Role
from domain.jobs import StartJobRequest, resume_job, start_job, stop_job
from domain.models import Job, JobEvent
from domain.registry import registry
from domain.statuses import TERMINAL, JobStatus
from domain.tenants import create_tenant, create_token
from tests.cluster import Cluster, wait_until
from tests.gql.failover import Requester, Subscriber
from tests.gql.support import gid
from tests.gql.ws import ws_url
from workers import keys
from workers.dispatcher import live_worker_slots
from workers.redis_server import EmbeddedRedis

JOB_TYPE_MODULES = ("jobtower.demo",)
# What a console asks while an operator watches: the job with its chunks, the list, live ops.
QUERIES = {
    "the job": """query($id: ID!) { job(id: $id) { status progress { done total percent } durationSeconds
        chunks(first: 10) { edges { node { index status progress { done } } } } } }""",
    "the job list": """query { jobs(first: 20) { totalCount edges { node { id name status progress { percent } } } } }""",
    "live ops": """query { liveOps { counts { status count } workersOnline queueDepth failedLast24h } }""",
}
# A client sends its next query once the last one was answered, at most this many a second:
# 200 a second take 100 clients, so that a slow answer holds up few of them.
CLIENT_QUERIES_PER_SECOND = 2
# Raised request limits: by default one tenant may send 100 queries a second, one token 20.
SETTINGS = {
    "max_requests_per_minute": 1_000_000,
    "max_tenant_requests_per_minute": 1_000_000,
    "max_concurrent_requests": 1000,
    "max_tenant_concurrent_requests": 1000,
    "ws_max_connections": 10_000,
    "ws_max_subscriptions": 10_000,
}


class PssSampler:
    """The PSS of all of a PostgreSQL cluster's processes together, every ``interval`` seconds."""

    def __init__(self, port: int, interval: float = 1.0) -> None:
        self.port = port
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append(sum(_pss_kib(pid) for pid in postgres_pids(self.port)))
            if self._stop.wait(self.interval):
                return


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    askers: list[Requester] = field(default_factory=list)
    cpu: CpuMeter | None = None

    @property
    def latencies(self) -> list[float]:
        return [value for asker in self.askers for value in asker.latencies_ms]

    def latencies_by(self, apis: list[str]) -> dict[str, list[float]]:
        """The latencies of each query, and of each API process (its URL), by that name."""
        found: dict[str, list[float]] = {name: [] for name in [*QUERIES, *(api.rstrip("/") for api in apis)]}
        for asker in self.askers:
            name = next(name for name, query in QUERIES.items() if query == asker.query)
            for url, ms in asker.answers:
                found[name].append(ms)
                found[url.rstrip("/")].append(ms)
        return found

    @property
    def errors(self) -> list[str]:
        return [error for asker in self.askers for error in asker.errors]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def queries(phase: Phase, apis: list[str], token: str, job_id: str, args: argparse.Namespace, seconds: float,
                  until: asyncio.Event | None = None) -> None:
    """``args.queries_per_second`` spread over clients and API processes, for ``seconds`` at most
    (or until ``until`` is set)."""
    clients = max(1, round(args.queries_per_second / CLIENT_QUERIES_PER_SECOND))
    per_client = args.queries_per_second / clients
    for number in range(clients):
        query = list(QUERIES.values())[number % len(QUERIES)]
        variables = {"id": job_id} if "$id" in query else {}
        rotated = [*apis[number % len(apis):], *apis[: number % len(apis)]]
        phase.askers.append(Requester(rotated, token, query, variables, per_client, int(per_client * seconds) + 1, seconds))
    began = time.monotonic()
    tasks = [asyncio.create_task(asker.run()) for asker in phase.askers]
    if until is not None:
        ending = asyncio.create_task(until.wait())
        await asyncio.wait([ending, *tasks], return_when=asyncio.FIRST_COMPLETED)
        ending.cancel()
        for task in tasks:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    phase.seconds = time.monotonic() - began


async def bench(database_url: str, redis_server: EmbeddedRedis, log_dir: Path, args: argparse.Namespace) -> int:
    registry.load(JOB_TYPE_MODULES)
    settings = SETTINGS | dict(kv.split("=", 1) for kv in args.set)
    cluster = Cluster(database_url=database_url, redis_url=redis_server.url, log_dir=log_dir, settings=settings,
                      job_type_modules=JOB_TYPE_MODULES)
    loads = [os.getloadavg()]
    try:
        async with db.database(database_url, apply_migrations=True):
            tenant = await create_tenant("bench")
            admin = Actor(tenant_id=tenant.id, role=Role.ADMIN, name="bench")
            token = (await create_token("bench", Role.VIEWER)).token
            # Started and stopped before any worker runs: the baseline has the job and its
            # subscribers, and nothing running.
            params = {"records": args.records, "steps": 1, "stepMs": 0, "failRate": 0}
            job = await start_job(admin, StartJobRequest(type="noop", params=params, chunk_size=args.chunk_size))
            await stop_job(admin, job.id)
            job_id = gid("Job", job.id)

            apis = cluster.start_apis(2)
            for number in range(args.workers):
                cluster.start_worker(f"worker-{number + 1}")
            cluster.start_dispatcher()
            await _wait_for_cluster(redis_server.url, args.workers)

            pids = {name: process.pid for name, process in cluster.processes.items()}
            pids["redis"] = redis_server.process.pid
            rss = RssSampler(pids).start()
            pss = PssSampler(urlsplit(database_url).port or 5432).start()

            urls = [ws_url(api) for api in apis]
            follow_for = args.baseline_seconds + args.max_seconds + 300  # and no longer
            watchers = [
                Subscriber([*urls[n % 2:], *urls[: n % 2]], token, job_id, seconds=follow_for)
                for n in range(args.subscribers)
            ]
            following = []
            for watcher in watchers:
                following.append(asyncio.create_task(watcher.run()))
                await asyncio.sleep(0.002)  # a steady stream of connections, not a SYN flood

            async def all_subscribed() -> bool:
                return all(watcher.deliveries or watcher.errors for watcher in watchers)

            await wait_until(all_subscribed, timeout=300, interval=0.2, what="every subscriber's first event")
            print(f"{len(watchers)} subscribers connected, {len(watchers) // 2} on each API process", flush=True)

            postgres_port = urlsplit(database_url).port or 5432
            baseline = Phase("baseline: no job running", cpu=CpuMeter(pids, postgres_port).start())
            await queries(baseline, apis, token, job_id, args, args.baseline_seconds)
            baseline.cpu.stop()
            rss_baseline_end = {name: len(values) for name, values in rss.samples.items()}
            loads.append(os.getloadavg())

            under_load = Phase(
                f"under load: the {args.records:,}-record job running", cpu=CpuMeter(pids, postgres_port).start()
            )
            ended = asyncio.Event()
            began, resumed_at = time.monotonic(), time.time()
            await resume_job(admin, job.id)

            async def watch_job() -> None:
                async def done() -> bool:
                    return (await Job.get(id=job.id)).status in TERMINAL

                try:
                    await wait_until(done, timeout=args.max_seconds, interval=0.5, what="the job to end")
                finally:
                    ended.set()

            watching = asyncio.create_task(watch_job())
            await queries(under_load, apis, token, job_id, args, args.max_seconds, until=ended)
            under_load.cpu.stop()
            await asyncio.gather(watching, return_exceptions=True)
            job_seconds = time.monotonic() - began
            loads.append(os.getloadavg())
            final = await Job.get(id=job.id)

            history = await JobEvent.filter(job_id=job.id).order_by("seq").values_list("seq", flat=True)
            if final.status in TERMINAL:
                for watcher in watchers:
                    await watcher.wait_for(history[-1], timeout=60)
            for task in following:
                task.cancel()
            await asyncio.gather(*following, return_exceptions=True)
            rss.stop()
            pss.stop()
    finally:
        cluster.stop_all()

    # Measured while the job runs: the replay of its first events on subscribing is not live.
    delivered = [
        (delivery.received - datetime.fromisoformat(delivery.event["at"]).timestamp()) * 1000
        for watcher in watchers for delivery in watcher.deliveries
        if delivery.is_progress and delivery.received >= resumed_at
    ]
    errors = [*baseline.errors, *under_load.errors, *(e for watcher in watchers for e in watcher.errors)]
    reconnects = sum(len(watcher.connections) - 1 for watcher in watchers)

    print(f"\njob: noop, {args.records:,} instant records, {args.workers} workers: {final.status.value} "
          f"in {job_seconds:.1f} s ({final.done / job_seconds:,.0f} records/s while queried)")
    print(f"load average (1, 5, 15 min): start {_load(loads[0])}, after the baseline {_load(loads[1])}, "
          f"end {_load(loads[2])}; {os.cpu_count()} cores")
    for phase in (baseline, under_load):
        values = phase.latencies
        print(f"queries, {phase.name}: {len(values):,} in {phase.seconds:.1f} s "
              f"({len(values) / max(phase.seconds, 1e-9):.0f}/s of {args.queries_per_second} asked), "
              f"p50 {percentile(values, 0.5):.1f} ms, p99 {percentile(values, 0.99):.1f} ms, "
              f"max {max(values, default=float('nan')):.1f} ms")
        for name, part in phase.latencies_by(apis).items():
            print(f"  {name:<24} {len(part):>7,}  p50 {percentile(part, 0.5):8.1f} ms, p99 {percentile(part, 0.99):8.1f} ms")
        print("  CPU, % of a core: " + ", ".join(
            f"{name} {100 * used / max(phase.seconds, 1e-9):.0f}" for name, used in phase.cpu.used.items()
        ))
        api_cpu = sum(used for name, used in phase.cpu.used.items() if name.startswith("api-"))
        print(f"  API CPU per query: {1000 * api_cpu / max(len(values), 1):.1f} ms"
              " (with the subscribers' events and anything else the API processes did)")
    print(f"event delivery (PROGRESS, publish -> receipt) to {len(watchers)} subscribers: {len(delivered):,} "
          f"deliveries, p50 {percentile(delivered, 0.5):.1f} ms, p99 {percentile(delivered, 0.99):.1f} ms, "
          f"max {max(delivered, default=float('nan')):.1f} ms")
    subscriber_errors = [error for watcher in watchers for error in watcher.errors]
    print(f"errors: {len(errors)} ({len(subscriber_errors)} of subscribers); subscribers' reconnects: {reconnects}")
    for error in [*errors[:3], *subscriber_errors[:3]]:
        print(f"  {error[:300]}")
    print("memory, MiB (first / peak during the baseline / peak under load / last):")
    for name, values in rss.samples.items():
        split = rss_baseline_end[name]
        print(f"  {name:<13} RSS {_mib(values[0])} / {_mib(max(values[:split]))} / "
              f"{_mib(max(values[split:], default=0))} / {_mib(values[-1])}")
    if pss.samples:
        print(f"  {'postgresql':<13} PSS {_mib(pss.samples[0])} / peak {_mib(max(pss.samples))} / "
              f"{_mib(pss.samples[-1])} (all its processes)")

    gaps = [n for n, watcher in enumerate(watchers) if watcher.status_seqs() != history]
    if gaps:
        print(f"{len(gaps)} subscribers missed or repeated a status event: {gaps[:10]}")
        print(f"  the job's events: {history}; the first of them saw {watchers[gaps[0]].status_seqs()}")
    ok = not errors and not gaps and final.status is JobStatus.FINISHED
    return 0 if ok else 1


async def _wait_for_cluster(redis_url: str, workers: int) -> None:
    redis = Redis.from_url(redis_url)
    try:
        async def ready() -> bool:
            live, _ = await live_worker_slots(redis)
            return live >= workers and bool(await redis.exists(keys.DISPATCHER_LEADER))

        await wait_until(ready, timeout=120, interval=0.1, what="workers and a dispatcher")
    finally:
        await redis.aclose()


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load_held", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--queries-per-second", type=float, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=None, help="the noop type's default (5000) unless given")
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="the longest the job may run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a JOBTOWER_* setting")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    # uvloop keeps the clients' own overhead, which the latencies include, small.
    run_on_services("load-held", bench, parse_args(argv), run=uvloop.run)


if __name__ == "__main__":
    main()
