"""One tenant's probe while another tenant runs the heaviest queries the API accepts.

    .venv/bin/python -m bench.probe_under_attack [--attackers 4] [--sockets 150] [--probes 300] [--probe-ms 50]
        [--attack-seconds 120] [--workers 1]

It starts a throwaway PostgreSQL and Redis and one ``jobtower api`` (``--workers`` processes),
and writes straight into the database 100 FINISHED ``noop`` jobs of 100 records for the
attacking tenant, each record with a journey of 20 steps (noop's most), and nothing for the
probing tenant. Then, over HTTP:

* at rest: the probe, ``{ viewer { name } }`` with the other tenant's VIEWER token,
  ``--probes`` times, one every ``--probe-ms``: p50, p99;
* under attack: the attacking tenant's VIEWERs open ``--sockets`` WebSockets (as many tokens as a
  principal's limit of connections needs), each with a
  ``jobsChanged`` subscription, and ``--attackers`` loops send the heaviest of ``ATTACKS``
  the API accepts (the first that answers 200 without errors: a journeys query over as many
  records as the cost limit lets through) one after another; the same probe at the same
  pace meanwhile (``--probes`` of them, or as many as ``--attack-seconds`` allow): p50,
  p99, and their ratios to the figures at rest of the same run.

It prints what the attackers got (answers, refusals, bytes) too. It is a benchmark, not a
test: it exits non-zero only when a probe fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.bulk_cancel import figures, load, run_on_services
from domain import db
from domain.access import PrincipalKind, Role
from domain.clock import utcnow
from domain.journey import entry
from domain.models import Job
from domain.partitions import shared_partition
from domain.statuses import JobStatus, StepStatus
from domain.tenants import create_tenant, create_token
from jobtower.settings import Settings
from tests.cluster import Cluster, api_process
from workers.redis_server import EmbeddedRedis

PROBE = "{ viewer { name } }"
JOBS, RECORDS, STEPS = 100, 100, 20
# Heaviest first: 100 jobs × N records, each with its 20 steps.
ATTACKS = [
    "{ jobs(first: 100) { edges { node { id name status progress { done total }"
    f" records(first: {records}) {{ edges {{ node {{ key status durationSeconds"
    " journey { name status startedAt endedAt durationSeconds detail error } } } } } } } }"
    for records in (100, 50, 23, 10, 5)
]
SUBSCRIPTION = "subscription { jobsChanged { seq kind job { id status progress { done } } } }"
PROTOCOL = Subprotocol("graphql-transport-ws")
WS_MAX_CONNECTIONS = Settings.model_fields["ws_max_connections"].default


async def populate(sockets: int) -> tuple[str, list[str], str]:
    """The attacking tenant's jobs; a VIEWER token of each tenant (attacker, prober), and the
    attacking tenant's tokens for ``sockets`` WebSockets (a principal may open only so many)."""
    tenant = await create_tenant("attacker")
    await create_tenant("prober")
    attacker = await create_token("attacker", Role.VIEWER, "heavy reader", PrincipalKind.USER)
    prober = await create_token("prober", Role.VIEWER, "probe", PrincipalKind.USER)
    socket_tokens = [
        (await create_token("attacker", Role.VIEWER, f"watcher {number}", PrincipalKind.USER)).token
        for number in range(-(-sockets // WS_MAX_CONNECTIONS))
    ]
    ended = utcnow()
    started = ended - timedelta(hours=1)
    partition = await shared_partition(ended)
    await Job.bulk_create(
        [
            Job(
                tenant_id=tenant.id, partition_id=partition, type="noop", name=f"noop {number}", params={"steps": STEPS},
                step_names=[f"step{index + 1}" for index in range(STEPS)], status=JobStatus.FINISHED,
                chunk_size=RECORDS, total=RECORDS, done=RECORDS, succeeded=RECORDS, enumerated=True,
                seq=1, started_at=started, ended_at=ended,
            )
            for number in range(JOBS)
        ]
    )
    await db.fetch("UPDATE job SET root_id = id WHERE root_id IS NULL", [])
    await db.fetch(
        "INSERT INTO chunk (job_id, index, status, range_start, range_end, cursor, keys, attempts, started_at,"
        " ended_at, done, succeeded, failed, skipped)"
        " SELECT id, 0, 'COMPLETED', 0, ?, ?, '[]', 1, ?, ?, ?, ?, 0, 0 FROM job WHERE tenant_id = ?",
        [RECORDS, RECORDS, started, ended, RECORDS, RECORDS, tenant.id],
    )
    journey = json.dumps(
        [entry(index, StepStatus.SUCCEEDED, index * 1_000, 900, {"n": index}) for index in range(STEPS)],
        separators=(",", ":"),
    )
    await db.fetch(
        "INSERT INTO record (job_id, partition_id, chunk_id, position, key, status, attempts, started_at, ended_at,"
        " journey) SELECT c.job_id, ?, c.id, p, 'contact-' || p, 'SUCCEEDED', 1, ?, ?, CAST(? AS JSONB)"
        " FROM chunk c CROSS JOIN LATERAL generate_series(c.range_start, c.range_end - 1) AS p"
        " WHERE c.job_id IN (SELECT id FROM job WHERE tenant_id = ?)",
        [partition, started, ended, journey, tenant.id],
    )
    await db.fetch("ANALYZE", [])
    return attacker.token, socket_tokens, prober.token


async def probe(client: httpx.AsyncClient) -> float:
    began = time.perf_counter()
    response = await client.post("/graphql", json={"query": PROBE})
    elapsed = (time.perf_counter() - began) * 1000
    assert response.status_code == 200 and response.json() == {"data": {"viewer": {"name": "probe"}}}, response.text
    return elapsed


async def probes(client: httpx.AsyncClient, pace_ms: float, count: int, seconds: float = float("inf")) -> list[float]:
    """Probe times, one probe every ``pace_ms``: ``count`` of them, or as many as ``seconds`` allow."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < count and time.perf_counter() < deadline:
        began = time.perf_counter()
        times.append(await probe(client))
        await asyncio.sleep(max(0.0, pace_ms / 1000 - (time.perf_counter() - began)))
    return times


async def heaviest_accepted(client: httpx.AsyncClient) -> tuple[str, int]:
    for number, query in enumerate(ATTACKS):
        response = await client.post("/graphql", json={"query": query})
        if response.status_code == 200 and "errors" not in response.json():
            return query, number
    raise AssertionError(f"no attack query is accepted: {response.text[:500]}")


async def attack(client: httpx.AsyncClient, query: str, stop: asyncio.Event, outcomes: Counter[str]) -> None:
    while not stop.is_set():
        response = await client.post("/graphql", json={"query": query})
        outcomes[str(response.status_code)] += 1
        outcomes["bytes"] += len(response.content)
        if response.status_code == 429:
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def socket(url: str, token: str, opened: asyncio.Event, count: list[int], stop: asyncio.Event) -> None:
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=120, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
        count[0] += 1
        opened.set()
        await stop.wait()


async def bench(database_url: str, redis_server: EmbeddedRedis, log_dir: Path, args: argparse.Namespace) -> int:
    cluster = Cluster(database_url=database_url, redis_url=redis_server.url, log_dir=log_dir, job_type_modules=("jobtower.demo",))
    async with db.database(database_url, apply_migrations=True):
        began = time.perf_counter()
        attacker_token, socket_tokens, prober_token = await populate(args.sockets)
        print(f"{JOBS * RECORDS:,} records of {STEPS} steps written in {time.perf_counter() - began:.1f} s", flush=True)
    env = cluster.env()
    with api_process(env, log_dir / "api.log", workers=args.workers) as port:
        base = f"http://127.0.0.1:{port}"
        headers = {"accept": "application/json"}
        async with (
            httpx.AsyncClient(base_url=base, headers={**headers, "authorization": f"Bearer {prober_token}"}, timeout=60) as prober,
            httpx.AsyncClient(base_url=base, headers={**headers, "authorization": f"Bearer {attacker_token}"}, timeout=120) as attacker,
        ):
            await probes(prober, 0, 20)  # warm up
            loads = [load()]
            rest = await probes(prober, args.probe_ms, args.probes)
            loads.append(load())
            query, rank = await heaviest_accepted(attacker)
            sample = await attacker.post("/graphql", json={"query": query})
            print(f"heaviest accepted attack: #{rank} of {len(ATTACKS)} ({len(sample.content) / 1e6:.1f} MB an answer,"
                  f" {sample.elapsed.total_seconds() * 1000:.0f} ms alone)", flush=True)

            stop = asyncio.Event()
            opened, count = asyncio.Event(), [0]
            url = base.replace("http", "ws") + "/graphql"
            sockets = [
                asyncio.create_task(socket(url, socket_tokens[number % len(socket_tokens)], opened, count, stop))
                for number in range(args.sockets)
            ]
            while count[0] < args.sockets:
                for refused in (task for task in sockets if task.done()):
                    refused.result()  # raises what refused the socket
                await asyncio.sleep(0.1)
            outcomes: Counter[str] = Counter()
            attackers = [asyncio.create_task(attack(attacker, query, stop, outcomes)) for _ in range(args.attackers)]
            attack_began = time.perf_counter()
            under = await probes(prober, args.probe_ms, args.probes, args.attack_seconds)
            attack_seconds = time.perf_counter() - attack_began
            loads.append(load())
            stop.set()
            await asyncio.gather(*attackers, *sockets, return_exceptions=True)

    rest_p50, rest_p99 = figures(rest)
    under_p50, under_p99 = figures(under)
    print(f"probe {PROBE} of another tenant, one every {args.probe_ms:.0f} ms, {args.workers} API process(es):")
    print(f"  at rest:      p50 {rest_p50:6.1f} ms   p99 {rest_p99:6.1f} ms   ({len(rest)} requests)")
    print(f"  under attack: p50 {under_p50:6.1f} ms   p99 {under_p99:6.1f} ms   ({len(under)} requests)")
    print(f"  under attack ÷ at rest: p50 {under_p50 / rest_p50:.2f}×, p99 {under_p99 / rest_p99:.2f}×")
    answered = {code: n for code, n in outcomes.items() if code != "bytes"}
    print(f"attack: {args.attackers} loops and {count[0]} subscribed WebSockets over {attack_seconds:.1f} s;"
          f" answers by status {answered}, {outcomes['bytes'] / 1e6:.0f} MB")
    print("load average (1 min) at the start, after rest, after the attack: " + " / ".join(f"{value:.1f}" for value in loads))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.probe_under_attack", description=__doc__.split("\n")[0])
    parser.add_argument("--attackers", type=int, default=4, help="concurrent loops of the heaviest accepted query")
    parser.add_argument("--sockets", type=int, default=150, help="WebSockets with a subscription each")
    parser.add_argument("--probes", type=int, default=300, help="probe requests in each phase")
    parser.add_argument("--probe-ms", type=float, default=50.0, help="one probe request every this many ms")
    parser.add_argument("--attack-seconds", type=float, default=120.0, help="probe under attack at most this long")
    parser.add_argument("--workers", type=int, default=1, help="API processes (jobtower api --workers)")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    run_on_services("attack", bench, parse_args(argv))


if __name__ == "__main__":
    main()
