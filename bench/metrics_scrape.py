"""One ``/metrics`` scrape on a database of many jobs: how long it takes, and how that grows.

    .venv/bin/python -m bench.metrics_scrape [--jobs 100000] [--scrapes 50]

It starts a throwaway PostgreSQL and Redis and one ``jobtower api`` with a metrics token and no
snapshot cache (every scrape reads the figures afresh), writes ``--jobs`` jobs straight into the
table in a mix like a platform's history (mostly FINISHED, some FAILED and CANCELED, a few
hundred PENDING, RUNNING and WAITING, a tenth of them hidden, started over the last two days)
and 10 PENDING chunks for each PENDING job, then times ``--scrapes`` scrapes over HTTP, one
after another: p50, p99. The same at a tenth of the jobs shows how the time grows with them.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path

import httpx

from bench.bulk_cancel import figures, load, run_on_services
from domain import db
from domain.clock import utcnow
from domain.models import Chunk, Job
from domain.partitions import shared_partition
from domain.statuses import ChunkStatus, JobStatus
from domain.tenants import create_tenant
from tests.cluster import Cluster, api_process
from workers.redis_server import EmbeddedRedis

TOKEN = "bench-metrics"
TENANTS = 20
# Per thousand jobs, the statuses the history holds; FINISHED takes the rest.
MIX = {JobStatus.FAILED: 40, JobStatus.CANCELED: 20, JobStatus.PENDING: 3, JobStatus.RUNNING: 2, JobStatus.WAITING: 1}
CHUNKS_PER_PENDING_JOB = 10


def status_of(number: int) -> JobStatus:
    place = number % 1000
    for status, share in MIX.items():
        if place < share:
            return status
        place -= share
    return JobStatus.FINISHED


async def write_jobs(count: int) -> None:
    now = utcnow()
    tenants = [(await create_tenant(f"bench-{number}-{count}")).id for number in range(TENANTS)]
    partition = await shared_partition(now)
    jobs = []
    for number in range(count):
        status = status_of(number)
        created = now - timedelta(seconds=(number * 172_800) // count)
        started = None if status is JobStatus.PENDING else created + timedelta(seconds=number % 300)
        jobs.append(
            Job(
                tenant_id=tenants[number % TENANTS], partition_id=partition, type="test.plain", name=f"bench {number}",
                chunk_size=10,
                status=status, enumerated=True, total=0, hidden=number % 10 == 9, created_at=created,
                started_at=started, ended_at=started if status.value in {"FINISHED", "FAILED", "CANCELED"} else None,
                last_progress_at=started,
            )
        )
    await Job.bulk_create(jobs, batch_size=5000)
    pending = await Job.filter(status=JobStatus.PENDING, tenant_id__in=tenants).values_list("id", flat=True)
    await Chunk.bulk_create(
        [
            Chunk(job_id=job_id, index=index, status=ChunkStatus.PENDING, range_start=index * 10,
                  range_end=index * 10 + 10, cursor=index * 10)
            for job_id in pending
            for index in range(CHUNKS_PER_PENDING_JOB)
        ],
        batch_size=5000,
    )


def scrape_times(port: int, scrapes: int) -> list[float]:
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        for _ in range(scrapes + 3):  # the first few warm the process up
            began = time.perf_counter()
            response = client.get("/metrics")
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200 and "jobtower_jobs{" in response.text, response.text[:500]
    return times[3:]


async def bench(database_url: str, redis_server: EmbeddedRedis, log_dir: Path, args: argparse.Namespace) -> int:
    cluster = Cluster(database_url=database_url, redis_url=redis_server.url, log_dir=log_dir)
    env = cluster.env(metrics_token=TOKEN, metrics_cache_seconds=0)
    written = 0
    async with db.database(database_url, apply_migrations=True):
        for jobs in (args.jobs // 10, args.jobs):
            began = time.perf_counter()
            await write_jobs(jobs - written)
            written = jobs
            print(f"{written:,} jobs in the table ({time.perf_counter() - began:.1f} s to write)", flush=True)
            with api_process(env, log_dir / "api.log") as port:
                before = load()
                p50, p99 = figures(scrape_times(port, args.scrapes))
            print(f"  /metrics over {written:,} jobs: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
                  f" ({args.scrapes} scrapes; load {before:.1f} / {load():.1f})", flush=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_scrape", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    run_on_services("metrics", bench, parse_args(argv))


if __name__ == "__main__":
    main()
