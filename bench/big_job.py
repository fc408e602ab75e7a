"""Starting a big job costs what starting a small one does: admission, time to the first record,
memory, and the console's queries on it.

    .venv/bin/python -m bench.big_job [--sizes 10000 1000000 10000000] [--watch-seconds 20] [--runs 11]

A real ``jobtower serve`` (the API with the dispatcher in it, two workers of four slots) on a
throwaway PostgreSQL, with the platform's ceiling of records per job raised to the largest
size. For each ``--sizes`` (the first is the baseline), one after another, over HTTP:

* ``startJob`` of a ``noop`` job of that many records (1 step of 500 ms, so that every size,
  the smallest too, still runs while it is watched): the mutation's time
  (admission: the job is counted against the plan, not enumerated);
* the wait from the job's creation to its first record running (its enumeration streams its
  keys into chunks, a round at a time, and the first round's chunks start at once);
* for ``--watch-seconds`` while it enumerates and runs: the most RSS each ``jobtower`` process
  held, and the console's queries on the job (its detail, its first 50 chunks, its first 100
  records: ``--runs`` each, median);
* then the job is canceled and the next size starts once it has ended.

It prints each figure and its ratio to the first size's. Targets: time to the first record and
memory independent of the job's size (within 2× of the baseline), the console's queries under
the console's own target (median below 1 s, ``bench.console_query``). A benchmark, not a test:
it exits non-zero only when the service does not do what it should.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.console_query import TARGET_CONSOLE_MEDIAN_MS
from bench.throughput import RssSampler
from domain import db
from domain.access import Role
from domain.models import Job, Record
from domain.statuses import TERMINAL
from domain.tenants import create_tenant, create_token
from tests.cli import clean_environment
from tests.cluster import listening, wait_until
from tests.databases import fresh_postgres_database
from tests.services import postgres_server

START = """
mutation($params: JSON!) { startJob(input: {type: "noop", params: $params}) {
  __typename ... on JobStarted { job { id } } } }"""
CANCEL = "mutation($id: ID!) { cancelJob(id: $id) { __typename } }"
PROGRESS = "total done succeeded failed skipped interrupted canceled percent estimated"
# The job detail's own queries (console/src/screens/job/documents.ts), their fields as the console asks.
CONSOLE_QUERIES = {
    "job detail": f"""query JobDetail($id: ID!) {{ job(id: $id) {{
  id seq name type system hidden stoppable restartable lowPriority stalled waitingReason
  tenant {{ slug name }} status outcome error hasErrors chunkSize runBy {{ name kind }}
  createdAt startedAt endedAt waitingSeconds durationSeconds
  progress {{ {PROGRESS} }} childrenProgress {{ {PROGRESS} }}
  parent {{ id name }} restartedFrom {{ id name }} }} }}""",
    "first 50 chunks": f"""query JobChunks($id: ID!) {{ job(id: $id) {{ id chunks(first: 50) {{
  edges {{ node {{ id index status attempts progress {{ {PROGRESS} }} }} }}
  pageInfo {{ hasNextPage endCursor }} }} }} }}""",
    "first 100 records": """query RunRecords($id: ID!) { job(id: $id) { id records(first: 100) {
  edges { node { id key status outcome error attempts durationSeconds } }
  pageInfo { hasNextPage endCursor } } } }""",
}
STEP_MS = 500
TARGET_RATIO = 2.0


@dataclass(frozen=True)
class Figures:
    records: int
    admission_ms: float
    first_record_ms: float
    most_rss_kib: dict[str, int]
    queries_ms: dict[str, float]
    records_written: int


def jobtower_processes() -> dict[str, int]:
    """This benchmark's ``jobtower`` processes (serve and its workers), by a name for each."""
    found: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in command if word]
        if "jobtower.cli" in words or any(word.endswith("/jobtower") for word in words[:2]):
            role = next((word for word in words if word in ("serve", "worker", "api", "dispatcher")), "jobtower")
            found[f"{role} {entry}"] = int(entry)
    return found


async def post(client: httpx.AsyncClient, query: str, variables: dict) -> dict:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    if body.get("errors"):
        raise SystemExit(f"WRONG: {body['errors']}")
    return body["data"]


async def measure(client: httpx.AsyncClient, tenant_id: int, records: int, watch_seconds: float, runs: int) -> Figures:
    began = time.perf_counter()
    data = await post(client, START, {"params": {"records": records, "steps": 1, "stepMs": STEP_MS}})
    admission_ms = (time.perf_counter() - began) * 1000
    if data["startJob"]["__typename"] != "JobStarted":
        raise SystemExit(f"WRONG: startJob answered {data['startJob']}")
    gid = data["startJob"]["job"]["id"]
    job = await Job.filter(tenant_id=tenant_id).order_by("-id").first()
    assert job is not None

    async def first_record() -> Record | None:
        return await Record.filter(job_id=job.id).exclude(started_at=None).order_by("started_at").first()

    await wait_until(first_record, timeout=120, interval=0.01, what=f"the first record of job {job.id}")
    record = await first_record()
    assert record is not None and record.started_at is not None
    first_record_ms = (record.started_at - job.created_at).total_seconds() * 1000

    sampler = RssSampler(jobtower_processes(), interval=0.5).start()
    queries: dict[str, list[float]] = {name: [] for name in CONSOLE_QUERIES}
    deadline = time.monotonic() + watch_seconds
    while time.monotonic() < deadline or min(len(times) for times in queries.values()) < runs:
        for name, query in CONSOLE_QUERIES.items():
            began = time.perf_counter()
            if (await post(client, query, {"id": gid}))["job"] is None:
                raise SystemExit(f"WRONG: {name} did not find job {gid}")
            queries[name].append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(watch_seconds / runs / 2)
    sampler.stop()
    written = await Record.filter(job_id=job.id).count()


    async def ended() -> bool:
        return await Job.filter(id=job.id, status__in=list(TERMINAL)).exists()

    if not await ended():
        canceled = (await post(client, CANCEL, {"id": gid}))["cancelJob"]["__typename"]
        if canceled.endswith("Error") and not await ended():
            raise SystemExit(f"WRONG: cancelJob answered {canceled}")
    await wait_until(ended, timeout=600, interval=0.2, what=f"job {job.id} to end after its cancel")
    return Figures(
        records=records,
        admission_ms=admission_ms,
        first_record_ms=first_record_ms,
        most_rss_kib={name: max(samples) for name, samples in sampler.samples.items() if samples},
        queries_ms={name: statistics.median(times) for name, times in queries.items()},
        records_written=written,
    )


def report(figures: list[Figures]) -> int:
    base = figures[0]
    base_rss = max(base.most_rss_kib.values())
    missed = 0
    print("\nsize            admission   first record   most RSS of a process   records run meanwhile", flush=True)
    for each in figures:
        rss = max(each.most_rss_kib.values())
        print(
            f"  {each.records:>12,}  {each.admission_ms:7.1f} ms ({each.admission_ms / base.admission_ms:4.2f}×)"
            f"  {each.first_record_ms:7.1f} ms ({each.first_record_ms / base.first_record_ms:4.2f}×)"
            f"  {rss / 1024:7.1f} MiB ({rss / base_rss:4.2f}×)  {each.records_written:>12,}"
        )
        missed += each.first_record_ms > TARGET_RATIO * max(base.first_record_ms, 50) or rss > TARGET_RATIO * base_rss
    print("\nthe console's queries on the job while it runs, median:")
    for name in CONSOLE_QUERIES:
        line = "  ".join(
            f"{each.records:,}: {each.queries_ms[name]:6.1f} ms ({each.queries_ms[name] / base.queries_ms[name]:4.2f}×)"
            for each in figures
        )
        print(f"  {name:<18} {line}")
        missed += any(each.queries_ms[name] > TARGET_CONSOLE_MEDIAN_MS for each in figures)
    print(f"\ntargets: first record and memory within {TARGET_RATIO:g}× of the smallest job's,"
          f" console queries' median under {TARGET_CONSOLE_MEDIAN_MS:,} ms: {'met' if not missed else 'NOT met'}")
    return 0


async def bench(work: Path, args: argparse.Namespace) -> int:
    env = clean_environment()
    env.update(
        JOBTOWER_DATA_DIR=str(work / "data"),
        JOBTOWER_MAX_RECORDS_PER_JOB=str(max(args.sizes)),
        PYTHONUNBUFFERED="1",
    )
    with postgres_server() as server_url:
        async with fresh_postgres_database(server_url) as database_url:
            env["DATABASE_URL"] = database_url
            with listening(env, work / "serve.log", "serve", timeout=120) as port:
                async with db.database(database_url):
                    tenant = await create_tenant("big")
                    token = (await create_token("big", Role.OPERATOR)).token
                    headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
                    async with httpx.AsyncClient(
                        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
                    ) as client:
                        await measure(client, tenant.id, 10, 1, 1)  # warm up every process
                        figures = []
                        for records in args.sizes:
                            loads = os.getloadavg()[0]
                            each = await measure(client, tenant.id, records, args.watch_seconds, args.runs)
                            print(f"{records:,} records: load {loads:.1f} → {os.getloadavg()[0]:.1f}", flush=True)
                            figures.append(each)
    return report(figures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.big_job", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000, 10_000_000])
    parser.add_argument("--watch-seconds", type=float, default=20)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args(argv)
    print(f"CPU cores here: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="jobtower-big-job-") as work:
        sys.exit(asyncio.run(bench(Path(work), args)))


if __name__ == "__main__":
    main()
