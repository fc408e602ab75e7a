"""How long a job waits to start: ``startJob`` until its first record runs, idle and under load.

    .venv/bin/python -m bench.latency [--jobs 200] [--load-jobs 1000] [--backends sqlite postgres]
        [--skip-baseline] [--keep-logs]

For each backend it runs the embedded default as a user does, a real ``jobtower serve`` (the
API with the dispatcher in it, two worker processes, a Redis of its own), on SQLite in its
data folder or on a throwaway PostgreSQL. Over HTTP it starts ``--jobs`` one-record ``noop``
jobs one after another, each once the one before has finished, and reads what each waited:
the first record's ``started_at`` less the job's ``created_at``.

* idle: nothing else runs;
* under load: first ``--load-jobs`` jobs of ``--load-tenants`` other tenants are queued (each
  a few chunks of records that sleep ``--load-step-ms``), and every slot is busy with them.
  With fewer load tenants than slots each has work in flight, so a small job of a tenant
  with none takes the next slot that frees (``domain.scheduling``): it waits about one chunk
  at most, and its figures are printed beside the load's median chunk duration. (With more
  tenants than slots, the fair order also makes it wait for the idle tenants' turns.)

The baseline, in the same run, is the same measurement with ``JOBTOWER_DISPATCH_WAKEUPS=false``:
work is handed out at the dispatcher's rounds only. It is a benchmark, not a test: it prints
figures, and exits non-zero only when a job does not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.console_query import quantile
from domain import db
from domain.access import Actor, Role
from domain.jobs import StartJobRequest, start_job
from domain.models import Chunk, Job, Record, Tenant
from domain.registry import registry
from domain.statuses import TERMINAL, ChunkStatus, JobStatus
from domain.tenants import create_tenant, create_token
from tests.cli import clean_environment
from tests.cluster import listening, wait_until
from tests.databases import fresh_postgres_database
from tests.services import postgres_server

START = """
mutation($params: JSON!) { startJob(input: {type: "noop", params: $params}) {
  __typename ... on JobStarted { job { id } } } }"""
PROBE_PARAMS = {"records": 1, "steps": 1, "stepMs": 0}
LOAD_CHUNK_SIZE = 5
# Slots of `jobtower serve`'s default: two workers of four.
SLOTS = 8


@dataclass(frozen=True)
class Figures:
    waits_ms: list[float]
    loads: tuple[float, float]

    def line(self, label: str, chunk_ms: float | None = None) -> str:
        waits = self.waits_ms
        text = (
            f"  {label:<28} p50 {quantile(waits, 0.5):7.1f} ms   p99 {quantile(waits, 0.99):7.1f} ms"
            f"   max {max(waits):7.1f} ms   ({len(waits)} jobs; load {self.loads[0]:.1f} → {self.loads[1]:.1f})"
        )
        if chunk_ms is not None:
            text += f"; a load chunk takes {chunk_ms:.0f} ms: p99 = {quantile(waits, 0.99) / chunk_ms:.2f} chunks"
        return text


def serve(env: dict[str, str], log: Path) -> AbstractContextManager[int]:
    """``jobtower serve`` on a free port, once it listens (its database migrated); yields the port."""
    return listening(env, log, "serve", timeout=120)


async def probe_jobs(client: httpx.AsyncClient, tenant: Tenant, count: int) -> list[float]:
    """Start ``count`` one-record jobs one after another; what each waited to start, in ms."""
    waits = []
    for _ in range(count):
        body = (await client.post("/graphql", json={"query": START, "variables": {"params": PROBE_PARAMS}})).json()
        assert body["data"]["startJob"]["__typename"] == "JobStarted", body
        job = await Job.filter(tenant_id=tenant.id).order_by("-id").first()
        assert job is not None

        async def finished() -> bool:
            return await Job.filter(id=job.id, status__in=list(TERMINAL)).exists()

        await wait_until(finished, timeout=120, interval=0.01, what=f"job {job.id} to finish")
        ended = await Job.get(id=job.id)
        assert ended.status is JobStatus.FINISHED, ended.status
        record = await Record.filter(job_id=job.id).order_by("started_at").first()
        assert record is not None and record.started_at is not None
        waits.append((record.started_at - job.created_at).total_seconds() * 1000)
    return waits


async def queue_load(jobs: int, tenants: int, records: int, step_ms: float) -> list[int]:
    """``jobs`` jobs of ``tenants`` other tenants, each ``records`` sleeping records in chunks of five."""
    ids = []
    for index in range(tenants):
        tenant = await create_tenant(f"load-{index}")
        actor = Actor(tenant_id=tenant.id, role=Role.ADMIN, name="bench")
        for _ in range(index, jobs, tenants):
            job = await start_job(
                actor,
                StartJobRequest(
                    type="noop", params={"records": records, "steps": 1, "stepMs": step_ms}, chunk_size=LOAD_CHUNK_SIZE
                ),
            )
            ids.append(job.id)
    return ids


async def median_chunk_ms(job_ids: list[int]) -> float:
    chunks = await Chunk.filter(job_id__in=job_ids, status=ChunkStatus.COMPLETED).values_list("started_at", "ended_at")
    durations = [(ended - started).total_seconds() * 1000 for started, ended in chunks if started and ended]
    return quantile(durations, 0.5) if durations else float("nan")


async def measure(
    database_url: str, env: dict[str, str], log: Path, args: argparse.Namespace
) -> tuple[Figures, Figures | None, float | None]:
    """Idle, then under load (unless ``--load-jobs 0``), on one ``jobtower serve``: (idle, loaded,
    median load chunk in ms)."""
    with serve(env, log) as port:
        async with db.database(database_url):
            tenant = await create_tenant("probe")
            token = (await create_token("probe", Role.OPERATOR)).token
            headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
                await probe_jobs(client, tenant, 5)  # warm up every process
                loads = os.getloadavg()[0]
                idle = Figures(await probe_jobs(client, tenant, args.jobs), (loads, os.getloadavg()[0]))
                if not args.load_jobs:
                    return idle, None, None

                load_ids = await queue_load(args.load_jobs, args.load_tenants, args.load_records, args.load_step_ms)

                async def busy() -> bool:
                    return await Chunk.filter(job_id__in=load_ids, status=ChunkStatus.RUNNING).count() >= SLOTS

                await wait_until(busy, timeout=120, what="every slot to run load")
                loads = os.getloadavg()[0]
                loaded = Figures(await probe_jobs(client, tenant, args.jobs), (loads, os.getloadavg()[0]))
                still = await Job.filter(id__in=load_ids).exclude(status__in=list(TERMINAL)).count()
                print(f"    ({still} of {len(load_ids)} load jobs still open at the end)", flush=True)
                chunk_ms = await median_chunk_ms(load_ids)
    return idle, loaded, chunk_ms


async def bench(work: Path, args: argparse.Namespace) -> int:
    registry.load(["jobtower.demo"])
    modes = [("wake-ups (default)", "true")] + ([] if args.skip_baseline else [("rounds only (baseline)", "false")])
    print(f"{args.jobs} one-record jobs one after another; load: {args.load_jobs} jobs of {args.load_tenants} tenants,"
          f" {args.load_records} records of {args.load_step_ms:g} ms in chunks of {LOAD_CHUNK_SIZE}", flush=True)
    for name in args.backends:
        print(f"{name}:", flush=True)
        with postgres_server() if name == "postgres" else nullcontext() as server_url:
            for label, wakeups in modes:
                data_dir = Path(tempfile.mkdtemp(dir=work)).resolve()
                env = clean_environment()
                env.update(JOBTOWER_DATA_DIR=str(data_dir), JOBTOWER_DISPATCH_WAKEUPS=wakeups, PYTHONUNBUFFERED="1")
                log = work / "logs" / f"serve-{name}-{wakeups}.log"
                if server_url is None:
                    idle, loaded, chunk_ms = await measure(f"sqlite://{data_dir / 'jobtower.db'}", env, log, args)
                else:
                    async with fresh_postgres_database(server_url) as database_url:
                        env["DATABASE_URL"] = database_url
                        idle, loaded, chunk_ms = await measure(database_url, env, log, args)
                print(f"  {label}:", flush=True)
                print(idle.line("idle"), flush=True)
                if loaded is not None:
                    print(loaded.line(f"under load ({args.load_jobs} queued)", chunk_ms), flush=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs measured in each phase")
    parser.add_argument("--load-jobs", type=int, default=1000, help="0: the idle phase only")
    parser.add_argument(
        "--load-tenants", type=int, default=4,
        help="tenants of the load: fewer than the slots, each has work in flight, and a tenant with none goes first",
    )
    parser.add_argument("--load-records", type=int, default=20, help="records of each load job")
    parser.add_argument("--load-step-ms", type=float, default=200)
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="jobtower-bench-latency-"))
    (work / "logs").mkdir()
    code = 1
    try:
        code = asyncio.run(bench(work, args))
    finally:
        if code or args.keep_logs:
            print(f"logs: {work / 'logs'}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
