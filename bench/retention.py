"""Retention of one big job on PostgreSQL: its own partition dropped, against rows deleted in batches.

    .venv/bin/python -m bench.retention [--records 1000000] [--logs-per-record 0.1] [--chunk-size 100]
        [--skip-baseline]

It starts a throwaway PostgreSQL and writes two identical jobs that ended 60 days ago, each
with ``--records`` records (journeys of three steps, one in a hundred failed), its chunks
(with their keys, as enumeration leaves them) and a log line per ten records, by ``COPY``
(no workers):

* **partitioned**: placed as admission places a job of that size, in a partition of its own;
* **baseline**: placed in its week's shared partition, as a small job is; its rows are
  deleted in batches, as retention did for every job before partitions.

Each is pruned by ``domain.retention.prune_finished_jobs`` alone (one tenant each), and the
bench prints the seconds each took, their ratio, and the size of what the job's rows took on
disk before and after (``pg_total_relation_size`` of the partitions, and the dead tuples left
for vacuum), and the longest another client's read of records waited meanwhile (it reads in a
loop while each job is pruned). It exits non-zero if a job's rows are not all gone or the partitioned job's
tables are still in the catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import timedelta

import asyncpg

from domain import db, retention
from domain.clock import utcnow
from domain.models import Chunk, Job, JobLog, Record, Tenant
from domain.partitions import PARTITIONED, partition_for_new_job, shared_partition, table_of
from domain.statuses import ChunkStatus, JobOutcome, JobStatus
from domain.tenants import create_tenant
from domain.usage import ceilings, configure_ceilings
from tests.services import postgres_server

RETENTION = timedelta(days=30)
ENDED_AGO = timedelta(days=60)
COPY_BATCH = 200_000
RECORD_COLUMNS = ("job_id", "partition_id", "chunk_id", "position", "key", "status", "error", "attempts",
                  "started_at", "ended_at", "journey")
LOG_COLUMNS = ("job_id", "partition_id", "at", "level", "message", "fields", "chunk_index", "record_key")
TARGET_SECONDS = 1.0


async def seed(tenant: Tenant, name: str, partition: int, args: argparse.Namespace) -> Job:
    """A FINISHED job of ``args.records`` records, chunks and log lines, written by COPY."""
    now = utcnow()
    ended = now - ENDED_AGO
    job = await Job.create(
        tenant_id=tenant.id, partition_id=partition, type="noop", name=name, params={"records": args.records},
        chunk_size=args.chunk_size, status=JobStatus.FINISHED, outcome=JobOutcome.WITH_ERRORS, enumerated=True,
        total=args.records, done=args.records, succeeded=args.records - args.records // 100,
        failed=args.records // 100, seq=3, created_at=ended - timedelta(hours=2), started_at=ended - timedelta(hours=2),
        ended_at=ended,
    )
    await Job.filter(id=job.id).update(root_id=job.id)
    client = Job._meta.db
    chunk_ids: list[int] = []
    for first in range(0, args.records, args.chunk_size * 1000):
        chunks = [
            Chunk(
                job_id=job.id, index=start // args.chunk_size, status=ChunkStatus.COMPLETED, range_start=start,
                range_end=min(start + args.chunk_size, args.records), cursor=min(start + args.chunk_size, args.records),
                keys=[f"contact-{position}" for position in range(start, min(start + args.chunk_size, args.records))],
                attempts=1, done=min(args.chunk_size, args.records - start),
            )
            for start in range(first, min(first + args.chunk_size * 1000, args.records), args.chunk_size)
        ]
        await Chunk.bulk_create(chunks, batch_size=200)
    chunk_ids = await Chunk.filter(job_id=job.id).order_by("index").values_list("id", flat=True)
    journey = json.dumps([[0, "SUCCEEDED", 0, 2], [1, "SUCCEEDED", 2, 9], [2, "SUCCEEDED", 9, 14]])
    failed = json.dumps([[0, "SUCCEEDED", 0, 2], [1, "FAILED", 2, 9, {}, "RuntimeError: the CRM said no"]])
    logs_every = max(1, round(1 / args.logs_per_record)) if args.logs_per_record > 0 else 0
    async with client.acquire_connection() as connection:
        for first in range(0, args.records, COPY_BATCH):
            positions = range(first, min(first + COPY_BATCH, args.records))
            await connection.copy_records_to_table(
                "record",
                columns=RECORD_COLUMNS,
                records=[
                    (job.id, partition, chunk_ids[position // args.chunk_size], position, f"contact-{position}",
                     "FAILED" if position % 100 == 99 else "SUCCEEDED",
                     "RuntimeError: the CRM said no" if position % 100 == 99 else None, 1, ended, ended,
                     failed if position % 100 == 99 else journey)
                    for position in positions
                ],
            )
            if logs_every:
                await connection.copy_records_to_table(
                    "job_log",
                    columns=LOG_COLUMNS,
                    records=[
                        (job.id, partition, ended, "ERROR", f"record contact-{position} failed: the CRM said no",
                         json.dumps({"attempts": 1}), position // args.chunk_size, f"contact-{position}")
                        for position in positions
                        if position % logs_every == 0
                    ],
                )
    return job


async def partition_bytes(partition: int) -> tuple[int, int]:
    """What the partition's tables take on disk (with indexes and TOAST), and their dead tuples."""
    size = dead = 0
    for table in PARTITIONED:
        rows = await db.fetch(
            "SELECT pg_total_relation_size(c.oid) AS size, COALESCE(s.n_dead_tup, 0) AS dead FROM pg_class c"
            " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = ?",
            [table_of(table, partition)],
        )
        if rows:
            size += rows[0]["size"]
            dead += rows[0]["dead"]
    return size, dead


async def rows_left(job: Job) -> int:
    return (
        await Record.filter(job_id=job.id, partition_id=job.partition_id).count()
        + await JobLog.filter(job_id=job.id, partition_id=job.partition_id).count()
        + await Chunk.filter(job_id=job.id).count()
        + await Job.filter(id=job.id).count()
    )


async def tables_left(partition: int) -> int:
    names = [table_of(table, partition) for table in PARTITIONED]
    rows = await db.fetch(
        f"SELECT COUNT(*) AS n FROM pg_class WHERE relname IN ({', '.join('?' for _ in names)})", names
    )
    return rows[0]["n"]


def time_partition_drops() -> list[float]:
    """The seconds retention spends dropping partitions, first run first."""
    seconds: list[float] = []
    drop = retention.drop_unused_partitions

    async def timed(*args: object) -> int:
        began = time.perf_counter()
        try:
            return await drop(*args)
        finally:
            seconds.append(time.perf_counter() - began)

    retention.drop_unused_partitions = timed
    return seconds


def file_removal_seconds(size: int) -> float:
    """How long this filesystem takes to remove a plain file of ``size`` bytes (PostgreSQL's
    files are in the temporary directory too): the part of a DROP that is the disk's, not the
    database's."""
    block = b"\0" * 2**20
    with tempfile.NamedTemporaryFile(delete=False) as file:
        for _ in range(max(1, size // len(block))):
            file.write(block)
        file.flush()
        os.fsync(file.fileno())
    began = time.perf_counter()
    os.remove(file.name)
    return time.perf_counter() - began


@contextlib.asynccontextmanager
async def others_reading(database_url: str, partition: int):
    """Another client reading records (of ``partition``) in a loop while the block runs; yields the
    list that ends up holding how long each read took, in seconds: what retention made it wait."""
    waits: list[float] = []
    connection = await asyncpg.connect(database_url)
    stop = asyncio.Event()

    async def read() -> None:
        while not stop.is_set():
            began = time.perf_counter()
            await connection.fetchval("SELECT COUNT(*) FROM record WHERE partition_id = $1", partition)
            waits.append(time.perf_counter() - began)
            await asyncio.sleep(0.005)

    reading = asyncio.create_task(read())
    try:
        yield waits
    finally:
        stop.set()
        await reading
        await connection.close()


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


async def run(database_url: str, args: argparse.Namespace) -> int:
    failures: list[str] = []
    dropping = time_partition_drops()
    await db.migrate(database_url)
    async with db.database(database_url):
        configure_ceilings(max(args.records, ceilings.records_per_job), ceilings.jobs_per_minute)
        now = utcnow()
        cases = []
        for name in ("partitioned",) if args.skip_baseline else ("partitioned", "baseline"):
            tenant = await create_tenant(f"bench-{name}")
            if name == "partitioned":
                async with db.transaction():
                    partition = await partition_for_new_job(args.records, now)
            else:
                partition = await shared_partition(now)
            began = time.perf_counter()
            job = await seed(tenant, f"{name} job", partition, args)
            await db.fetch(f"VACUUM ANALYZE {table_of('record', partition)}", [])  # as autovacuum leaves it
            await db.fetch(f"VACUUM ANALYZE {table_of('job_log', partition)}", [])
            print(f"{name}: {args.records:,} records written in {time.perf_counter() - began:.1f} s", flush=True)
            cases.append((name, tenant, job))
        results = []
        for name, tenant, job in cases:
            before, _ = await partition_bytes(job.partition_id)
            load_before = os.getloadavg()[0]
            async with others_reading(database_url, await shared_partition(now)) as waits:
                began = time.perf_counter()
                pruned = await retention.prune_finished_jobs(RETENTION, tenant_id=tenant.id)
                seconds = time.perf_counter() - began
            after, dead = await partition_bytes(job.partition_id)
            print(f"{name}: pruned in {seconds:.2f} s (load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)",
                  flush=True)
            if pruned != 1 or await rows_left(job):
                failures.append(f"{name}: {pruned} jobs pruned, {await rows_left(job)} rows left")
            if name == "partitioned" and await tables_left(job.partition_id):
                failures.append("the partitioned job's tables are still in the catalog")
            results.append((name, seconds, before, after, dead, max(waits)))

    print()
    print(f"retention of one job of {args.records:,} records, {args.chunk_size:,} per chunk,"
          f" {args.logs_per_record:g} log lines per record (PostgreSQL, 2 cores):")
    for name, seconds, before, after, dead, wait in results:
        print(f"  {name:<12} {seconds:8.2f} s   its partition's tables {mib(before)} before, {mib(after)} after"
              f" ({dead:,} dead tuples left for vacuum); another client's read of records waited"
              f" {wait * 1000:,.0f} ms at most")
    print(f"  of which the partitioned job's partition (DETACH and DROP of its two tables): {dropping[0]:.3f} s;"
          " the rest deletes its chunks, events and job row")
    removal = file_removal_seconds(results[0][2])
    print(f"  removing one plain file of {mib(results[0][2])} takes this filesystem {removal:.3f} s")
    partitioned = results[0][1]
    if len(results) > 1:
        print(f"  baseline ÷ partitioned: {results[1][1] / partitioned:,.0f}×")
    print(f"  (target: under {TARGET_SECONDS:g} s: {'met' if partitioned < TARGET_SECONDS else 'missed'})")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.retention", description=__doc__.split("\n")[0])
    # 10,000,000 takes about ten minutes per job to write here, and the baseline longer to delete.
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--logs-per-record", type=float, default=0.1)
    parser.add_argument("--chunk-size", type=int, default=100, help="the job types' default")
    parser.add_argument("--skip-baseline", action="store_true", help="only the partitioned job")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with postgres_server() as database_url:
        sys.exit(asyncio.run(run(database_url, args)))


if __name__ == "__main__":
    main()
