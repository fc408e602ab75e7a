"""Records per second, end to end: Jobtower against plain Taskiq and a raw COPY.

    .venv/bin/python -m bench.throughput [--records 1000000] [--workers 2] [--runs 1]

It starts a throwaway PostgreSQL and Redis, then measures, in this order:

* Jobtower: a dispatcher and ``--workers`` real ``jobtower worker`` processes run
  one ``noop`` job (steps=3, stepMs=0, failRate=0.001), timed from ``start_job``
  until the job row says FINISHED. Afterwards the record table must hold exactly
  one row per record, each with its three-step journey. Each worker's RSS is
  sampled every second.
* Baseline A: plain Taskiq, one task per record (``bench.taskiq_baseline``) on
  two ``taskiq worker`` processes, timed from the first ``kiq`` until every row
  is written. It is slow, so it runs ``--taskiq-records`` (20,000) records.
* Baseline B: one asyncpg ``COPY`` of the same rows (columns, journey JSON)
  into a scratch copy of the record table: the floor a database write costs.
* I/O-bound (``--io-records``, 20,000): the same ``noop`` job with each of its
  three steps waiting 20 ms (``stepMs=20``), against plain Taskiq running the
  same three waits per task at its CLI's default concurrency; then the same job
  with batch steps (``noop_batched``: one 20 ms wait per call of 100 records),
  against the per-record run.

It is a benchmark, not a test: it prints figures and exits non-zero only when a
run loses or doubles records.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

from domain import db
from domain.access import Actor, Role
from domain.clock import utcnow
from domain.jobs import StartJobRequest, start_job
from domain.models import Job
from domain.registry import registry
from domain.statuses import JobStatus
from domain.tenants import create_tenant
from jobtower.job_types.noop import BATCH_SIZE
from tests.cluster import REPO, Cluster, wait_until
from tests.services import postgres_server
from workers import keys
from workers.dispatcher import live_worker_slots
from workers.redis_server import EmbeddedRedis

TARGET_RECORDS_PER_SECOND = 50_000
TARGET_TIMES_TASKIQ = 20
# A worker whose RSS grows by more than this (or 10%) after its warm-up is not flat.
RSS_FLAT_KIB = 8 * 1024
JOB_TYPE_MODULES = ("jobtower.demo",)
NOOP_PARAMS = {"steps": 3, "stepMs": 0, "failRate": 0.001}
# The I/O-bound runs: each step waits as a call to another service would.
IO_STEP_MS = 20
IO_PARAMS = {**NOOP_PARAMS, "stepMs": IO_STEP_MS}
# Chunks small enough that every worker slot holds one of the I/O-bound job's.
IO_CHUNK_SIZE = 1000
# Columns of a record row, in the order the baselines write them.
RECORD_COLUMNS = (
    "job_id", "chunk_id", "position", "key", "status", "error", "attempts", "started_at", "ended_at", "journey"
)


# ---------------------------------------------------------------- memory


class RssSampler:
    """VmRSS of some processes, read from /proc every ``interval`` seconds on a thread."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: dict[str, list[int]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        for name, pid in self.pids.items():
            if (kib := rss_kib(pid)) is not None:
                self.samples[name].append(kib)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


# ---------------------------------------------------------------- CPU

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces: fields start after its closing parenthesis.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of stat; here 11-14 after pid and comm.
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def postgres_cpu_seconds(port: int) -> float:
    """Every process of the PostgreSQL cluster on ``port``: the postmaster, its children, and the exited ones."""
    pids = postgres_pids(port)
    if not pids:
        return 0.0
    postmaster, *children = pids
    return cpu_seconds(postmaster, with_reaped_children=True) + sum(cpu_seconds(pid) for pid in children)


def postgres_pids(port: int) -> list[int]:
    """The postmaster of the PostgreSQL cluster on ``port``, then its children; none if it is not found."""
    postmaster = None
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if argv and argv[0].endswith(b"postgres") and b"-p" in argv and str(port).encode() in argv:
            postmaster = pid
        if (fields := _stat_fields(pid)) is not None:
            parents[pid] = int(fields[1])
    if postmaster is None:
        return []
    return [postmaster, *(pid for pid, parent in parents.items() if parent == postmaster)]


@dataclass
class CpuMeter:
    """CPU seconds each part of the system used between ``start`` and ``stop``."""

    pids: dict[str, int]
    postgres_port: int
    used: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        now["postgres"] = postgres_cpu_seconds(self.postgres_port)
        now["bench (this process)"] = time.process_time()
        return now

    def start(self) -> CpuMeter:
        self._began = self._now()
        return self

    def stop(self) -> None:
        self.used = {name: value - self._began[name] for name, value in self._now().items()}


# ---------------------------------------------------------------- Jobtower


@dataclass(frozen=True)
class Scenario:
    """One Jobtower job to time: a ``type`` job of ``records`` with ``params``."""

    name: str
    type: str
    records: int
    params: dict[str, Any]
    chunk_size: int | None


@dataclass
class JobtowerRun:
    records: int
    seconds: float
    # From the first record's start to the last record's end: the workers' own pace.
    record_span_seconds: float
    failed: int
    rss_kib: dict[str, list[int]] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


async def jobtower_runs(
    database_url: str, redis: EmbeddedRedis, log_dir: Path, args: argparse.Namespace, scenarios: list[Scenario]
) -> dict[str, list[JobtowerRun]]:
    settings = dict(kv.split("=", 1) for kv in args.set)
    cluster = Cluster(
        database_url=database_url,
        redis_url=redis.url,
        log_dir=log_dir,
        settings=settings,
        job_type_modules=JOB_TYPE_MODULES,
    )
    tenant = await create_tenant("bench")
    actor = Actor(tenant_id=tenant.id, role=Role.ADMIN, name="bench")
    client = Redis.from_url(redis.url)
    try:
        dispatcher = cluster.start_dispatcher().pid
        workers = {f"worker{n + 1}": cluster.start_worker(f"worker{n + 1}").pid for n in range(args.workers)}
        await _wait_for_cluster(client, args.workers)
        assert redis.process is not None
        others = {"dispatcher": dispatcher, "redis": redis.process.pid}
        postgres_port = int(database_url.rsplit(":", 1)[1].split("/")[0])
        runs: dict[str, list[JobtowerRun]] = {}
        for scenario in scenarios:
            for number in range(args.runs):
                label = f"{scenario.name} {number + 1}"
                profilers = (
                    _start_profilers({**workers, **others}, args.py_spy, f"{scenario.name}-run{number + 1}")
                    if args.py_spy
                    else []
                )
                cpu = CpuMeter({**workers, **others}, postgres_port).start()
                run = await _one_job(actor, workers, scenario, args.timeout)
                cpu.stop()
                _stop_profilers(profilers)
                run.cpu_seconds = cpu.used
                print(
                    f"  jobtower {label}: {run.records:,} records in {run.seconds:.2f} s"
                    f" = {run.per_second:,.0f} records/s (records' own span {run.record_span_seconds:.2f} s,"
                    f" {run.failed} seeded failures; load {_load()})",
                    flush=True,
                )
                print("    CPU s: " + _cpu_line(run), flush=True)
                for name, samples in run.rss_kib.items():
                    tenths = [samples[min(len(samples) - 1, len(samples) * n // 10)] for n in range(11)]
                    print(
                        f"    {name} RSS MiB by tenths of the run: " + " ".join(f"{kib / 1024:.0f}" for kib in tenths)
                    )
                runs.setdefault(scenario.name, []).append(run)
        return runs
    finally:
        cluster.stop_all()
        await client.aclose()


def _start_profilers(pids: dict[str, int], folder: Path, run: str) -> list[subprocess.Popen[bytes]]:
    """py-spy on each Python process, writing collapsed stacks (an investigation aid, not a dependency)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
             "--output", str(folder / f"{run}-{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
        if name != "redis"
    ]


def _stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
    for profiler in profilers:
        profiler.wait(timeout=60)


async def _wait_for_cluster(redis: Redis, workers: int) -> None:
    async def ready() -> bool:
        live, _ = await live_worker_slots(redis)
        return live >= workers and bool(await redis.exists(keys.DISPATCHER_LEADER))

    await wait_until(ready, timeout=60, interval=0.1, what=f"{workers} workers and a dispatcher")


async def _one_job(actor: Actor, workers: dict[str, int], scenario: Scenario, timeout: float) -> JobtowerRun:
    records = scenario.records
    sampler = RssSampler(workers).start()
    began = time.perf_counter()
    job = await start_job(
        actor,
        StartJobRequest(
            type=scenario.type, params={"records": records, **scenario.params}, chunk_size=scenario.chunk_size
        ),
    )

    async def finished() -> Job | None:
        current = await Job.get(id=job.id)
        return current if current.status in (JobStatus.FINISHED, JobStatus.FAILED) else None

    done = await wait_until(finished, timeout=timeout, interval=0.05, what=f"job {job.id} to finish")
    seconds = time.perf_counter() - began
    sampler.stop()
    assert isinstance(done, Job)
    if done.status is not JobStatus.FINISHED:
        raise SystemExit(f"job {job.id} ended {done.status}: {done.error}")
    rows = await db.fetch(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT position) AS positions,"
        " COUNT(*) FILTER (WHERE jsonb_array_length(journey) = 3) AS journeys,"
        " COUNT(*) FILTER (WHERE status = 'FAILED') AS failed,"
        " EXTRACT(EPOCH FROM MAX(ended_at) - MIN(started_at)) AS span"
        " FROM record WHERE job_id = ?",
        [job.id],
    )
    found = rows[0]
    problems = [
        f"{what}: {found[column]} (expected {expected})"
        for what, column, expected in (
            ("rows", "n", records),
            ("distinct positions", "positions", records),
            ("rows with a 3-step journey", "journeys", records),
            ("failed rows", "failed", done.failed),
        )
        if found[column] != expected
    ]
    if (done.done, done.total) != (records, records):
        problems.append(f"job counters done={done.done} total={done.total}")
    if problems:
        raise SystemExit(f"job {job.id} did not persist its outcomes: " + "; ".join(problems))
    return JobtowerRun(
        records=records,
        seconds=seconds,
        record_span_seconds=float(found["span"]),
        failed=int(found["failed"]),
        rss_kib=sampler.samples,
    )


def _noop_fails(key: str) -> bool:
    # About the noop's share of seeded failures, for rows written without running noop.
    return zlib.crc32(key.encode()) % 10_000 < NOOP_PARAMS["failRate"] * 10_000


# ---------------------------------------------------------------- baseline A: Taskiq



@dataclass
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


async def _scratch_table(connection: asyncpg.Connection, table: str) -> None:
    """An empty copy of the record table: same columns, defaults and indexes, no foreign keys, one
    table (the rows of one partition of it)."""
    await connection.execute(
        f"DROP TABLE IF EXISTS {table};"
        f" CREATE TABLE {table} (LIKE record INCLUDING DEFAULTS INCLUDING INDEXES);"
        f" ALTER TABLE {table} ALTER COLUMN partition_id SET DEFAULT 0"
    )


async def taskiq_runs(
    database_url: str, redis_url: str, log_dir: Path, args: argparse.Namespace, count: int, step_ms: float = 0
) -> list[Rate]:
    """``count`` records on ``--workers`` Taskiq worker processes with the CLI's defaults (100 tasks
    at once per process), each task's three steps waiting ``step_ms``."""
    os.environ["BENCH_REDIS_URL"] = redis_url  # read when the broker module is imported
    from bench import taskiq_baseline

    connection = await asyncpg.connect(database_url)
    await _scratch_table(connection, taskiq_baseline.TABLE)
    log = open(log_dir / "taskiq.log", "ab")  # noqa: SIM115 - lives with the process
    workers = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "taskiq"), "worker", "bench.taskiq_baseline:broker",
            "--workers", str(args.workers), "--log-level", "INFO",
        ],
        cwd=REPO,
        env={**os.environ, "BENCH_DATABASE_URL": database_url, "BENCH_REDIS_URL": redis_url},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the CLI forks its worker processes: stop the whole group
    )
    broker = taskiq_baseline.broker
    redis = Redis.from_url(redis_url)
    try:
        await broker.startup()  # the consumer group must exist before the first message

        async def consuming() -> bool:
            # Redis 6 lists a consumer only once it got a message: look for blocked reads instead.
            clients = await redis.client_list()
            return sum(1 for client in clients if client.get("cmd") == "xreadgroup") >= args.workers

        await wait_until(consuming, timeout=60, interval=0.1, what="the taskiq workers")
        rates = []
        for number in range(args.runs):
            await connection.execute(f"TRUNCATE {taskiq_baseline.TABLE}")
            began = time.perf_counter()
            await _send_all(taskiq_baseline.run_record, count, step_ms)
            sent = time.perf_counter() - began

            async def written() -> bool:
                return await connection.fetchval(f"SELECT COUNT(*) FROM {taskiq_baseline.TABLE}") >= count

            await wait_until(written, timeout=args.timeout, interval=0.05, what="the taskiq rows")
            rate = Rate(count, time.perf_counter() - began)
            print(
                f"  taskiq run {number + 1} (steps of {step_ms:g} ms): {count:,} records in {rate.seconds:.2f} s"
                f" = {rate.per_second:,.0f} records/s (sending took {sent:.2f} s; load {_load()})",
                flush=True,
            )
            rates.append(rate)
        journeys = await connection.fetchval(
            f"SELECT COUNT(*) FROM {taskiq_baseline.TABLE} WHERE jsonb_array_length(journey) = 3"
        )
        if journeys != count:
            raise SystemExit(f"taskiq baseline wrote {journeys} 3-step journeys of {count}")
        return rates
    finally:
        await broker.shutdown()
        await redis.aclose()
        _stop_group(workers)
        await connection.execute(f"DROP TABLE IF EXISTS {taskiq_baseline.TABLE}")
        await connection.close()


async def _send_all(task: Any, count: int, step_ms: float, senders: int = 32) -> None:
    """One ``kiq`` per record, a few in flight at once as a web app's requests would be."""
    positions = iter(range(count))

    async def sender() -> None:
        for position in positions:
            await task.kiq(position, step_ms)

    await asyncio.gather(*(sender() for _ in range(senders)))


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    # An idle RedisStreamBroker worker may ignore SIGTERM: kill it after a grace period.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# ---------------------------------------------------------------- baseline B: COPY

COPY_TABLE = "bench_copy"


async def copy_runs(database_url: str, args: argparse.Namespace) -> list[Rate]:
    connection = await asyncpg.connect(database_url)
    rates = []
    try:
        for number in range(args.runs):
            await _scratch_table(connection, COPY_TABLE)
            began = time.perf_counter()
            await connection.copy_records_to_table(COPY_TABLE, records=_rows(args.records), columns=RECORD_COLUMNS)
            rate = Rate(args.records, time.perf_counter() - began)
            print(
                f"  copy run {number + 1}: {args.records:,} rows in {rate.seconds:.2f} s"
                f" = {rate.per_second:,.0f} rows/s",
                flush=True,
            )
            rates.append(rate)
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        await connection.close()
    return rates


def _rows(count: int) -> Iterator[tuple[Any, ...]]:
    """Rows as a noop record leaves them: a 3-step journey encoded per row, seeded failures."""
    started = utcnow()
    ended = started + timedelta(microseconds=30)
    for position in range(count):
        key = str(position)
        if _noop_fails(key):
            status, error = "FAILED", f"RuntimeError: seeded failure of record {key}"
            last = [2, "FAILED", 9, 2, None, error]
        else:
            status, error, last = "SUCCEEDED", None, [2, "SUCCEEDED", 9, 2]
        journey = [[0, "SUCCEEDED", 1, 3], [1, "SUCCEEDED", 5, 2], last]
        yield (0, 0, position, key, status, error, 1, started, ended, json.dumps(journey, separators=(",", ":")))


# ---------------------------------------------------------------- report


def _cpu_line(run: JobtowerRun) -> str:
    total = sum(run.cpu_seconds.values())
    parts = [f"{name} {seconds:.1f}" for name, seconds in run.cpu_seconds.items()]
    return (
        ", ".join(parts)
        + f"; total {total:.1f} of {run.seconds * (os.cpu_count() or 1):.1f} core-s"
        + f" = {total / run.records * 1e6:.0f} CPU-us/record"
    )



def _median(values: list[float]) -> float:
    return statistics.median(values)


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def report(
    args: argparse.Namespace, jobtower: list[JobtowerRun], taskiq: list[Rate], copy: list[Rate]
) -> None:
    print()
    print(f"Jobtower {args.records:,} noop records (steps=3, stepMs=0, failRate=0.001) on {args.workers} workers;"
          f" medians of {args.runs} run(s); {os.cpu_count()} CPUs; load at the end {_load()}")
    rows: list[tuple[str, str, str]] = []
    jt = _median([run.per_second for run in jobtower]) if jobtower else None
    if jt is not None:
        rows.append(("Jobtower, end to end", f"{jt:,.0f} records/s", f"target >= {TARGET_RECORDS_PER_SECOND:,}: "
                     + ("met" if jt >= TARGET_RECORDS_PER_SECOND else "NOT met")))
        span = _median([run.records / run.record_span_seconds for run in jobtower])
        rows.append(("Jobtower, first record to last", f"{span:,.0f} records/s", "enumeration and settling excluded"))
    a = _median([rate.per_second for rate in taskiq]) if taskiq else None
    if a is not None:
        rows.append((f"A: Taskiq, 1 task/record ({args.taskiq_records:,})", f"{a:,.0f} records/s", ""))
    b = _median([rate.per_second for rate in copy]) if copy else None
    if b is not None:
        rows.append((f"B: asyncpg COPY ({args.records:,})", f"{b:,.0f} rows/s", ""))
    if jt is not None and a is not None:
        ratio = jt / a
        rows.append(("Jobtower / A", f"{ratio:.1f}x", f"target >= {TARGET_TIMES_TASKIQ}x: "
                     + ("met" if ratio >= TARGET_TIMES_TASKIQ else "NOT met")))
    if jt is not None and b is not None:
        rows.append(("Jobtower / B", f"{jt / b:.2f}x", "share of the raw write ceiling"))
    if jobtower:
        for name in jobtower[0].rss_kib:
            samples = [kib for run in jobtower for kib in run.rss_kib[name]]
            start, peak, end = samples[0], max(samples), samples[-1]
            # Memory that grows with the records processed keeps growing after the first
            # quarter of the first run; a one-off warm-up (imports, buffers, caches) does not.
            first = jobtower[0].rss_kib[name]
            warmed = first[len(first) // 4]
            growth = end - warmed
            flat = growth <= max(RSS_FLAT_KIB, warmed // 10)
            rows.append((
                f"{name} RSS start/peak/end",
                f"{_mib(start)} / {_mib(peak)} / {_mib(end)}",
                ("flat" if flat else "NOT flat")
                + f": {_mib(warmed)} a quarter into run 1, {growth / 1024:+.0f} MiB from there to the end"
                + f" ({len(samples)} samples)",
            ))
        parts = jobtower[0].cpu_seconds
        cpu = {name: _median([run.cpu_seconds[name] / run.records * 1e6 for run in jobtower]) for name in parts}
        rows.append((
            "CPU-us per record (median)",
            f"{sum(cpu.values()):.0f}",
            ", ".join(f"{name} {us:.0f}" for name, us in cpu.items()),
        ))
        # Other processes share the machine: what its cores would give if they ran only this.
        ceiling = (os.cpu_count() or 1) * 1e6 / sum(cpu.values())
        rows.append((
            "CPU-bound ceiling",
            f"{ceiling:,.0f} records/s",
            f"{os.cpu_count()} cores / CPU per record, if nothing else ran",
        ))
    _print_rows(rows)


def io_report(
    args: argparse.Namespace, per_record: list[JobtowerRun], batched: list[JobtowerRun], taskiq: list[Rate]
) -> None:
    print()
    print(f"I/O-bound: {args.io_records:,} noop records, 3 steps of {IO_STEP_MS} ms each, chunks of {IO_CHUNK_SIZE:,},"
          f" on {args.workers} workers; medians of {args.runs} run(s); load at the end {_load()}")
    rows: list[tuple[str, str, str]] = []
    one = _median([run.per_second for run in per_record])
    many = _median([run.per_second for run in batched])

    def cpu_us(runs: list[JobtowerRun]) -> str:
        return f"{_median([sum(run.cpu_seconds.values()) / run.records * 1e6 for run in runs]):.0f} CPU-us/record"

    rows.append(("Jobtower, a step per record", f"{one:,.0f} records/s", cpu_us(per_record)))
    rows.append((f"Jobtower, batch steps of {BATCH_SIZE}", f"{many:,.0f} records/s", cpu_us(batched)))
    rows.append(("batch steps / a step per record", f"{many / one:.2f}x", f"{BATCH_SIZE}x fewer calls per step"))
    if taskiq:
        plain = _median([rate.per_second for rate in taskiq])
        rows.append(
            ("Taskiq, 1 task/record, default concurrency", f"{plain:,.0f} records/s", "100 tasks at once per worker")
        )
        rows.append(("Jobtower (a step per record) / Taskiq", f"{one / plain:.1f}x", ""))
        rows.append(("Jobtower (batch steps) / Taskiq", f"{many / plain:.1f}x", ""))
    _print_rows(rows)


def _print_rows(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(row[0]) for row in rows)
    middle = max(len(row[1]) for row in rows)
    for label, value, note in rows:
        print(f"  {label:<{width}}  {value:>{middle}}  {note}")


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--records", type=int, default=1_000_000, help="records of the Jobtower job and the COPY (0: skip them)"
    )
    parser.add_argument(
        "--io-records", type=int, default=20_000,
        help="records of each I/O-bound run: Jobtower per record, Jobtower batched, Taskiq (0: skip them)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (Jobtower and Taskiq)")
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement; medians are reported")
    parser.add_argument("--taskiq-records", type=int, default=20_000, help="records of baseline A (it is slow)")
    parser.add_argument("--chunk-size", type=int, default=None, help="the job's chunk size (noop default 5000)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a JOBTOWER_* setting for the Jobtower processes, e.g. --set flush_records=1000",
    )
    parser.add_argument(
        "--py-spy", type=Path, default=None, metavar="DIR",
        help="profile the workers and the dispatcher with py-spy (installed separately) into DIR",
    )
    parser.add_argument("--skip-taskiq", action="store_true")
    parser.add_argument("--skip-copy", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one run may take")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    return parser.parse_args(argv)


async def bench(database_url: str, redis: EmbeddedRedis, log_dir: Path, args: argparse.Namespace) -> None:
    print(f"load before: {_load()}", flush=True)
    registry.load(JOB_TYPE_MODULES)
    scenarios = []
    if args.records:
        scenarios.append(Scenario("noop", "noop", args.records, NOOP_PARAMS, args.chunk_size))
    if args.io_records:
        scenarios.append(Scenario("io-per-record", "noop", args.io_records, IO_PARAMS, IO_CHUNK_SIZE))
        scenarios.append(Scenario("io-batched", "noop_batched", args.io_records, IO_PARAMS, IO_CHUNK_SIZE))
    async with db.database(database_url, apply_migrations=True):
        jobtower = await jobtower_runs(database_url, redis, log_dir, args, scenarios)
        print(f"load after Jobtower: {_load()}", flush=True)
        taskiq = io_taskiq = []
        if not args.skip_taskiq:
            if args.records:
                taskiq = await taskiq_runs(database_url, redis.url, log_dir, args, args.taskiq_records)
            if args.io_records:
                io_taskiq = await taskiq_runs(database_url, redis.url, log_dir, args, args.io_records, IO_STEP_MS)
        copy = [] if args.skip_copy or not args.records else await copy_runs(database_url, args)
    if args.records:
        report(args, jobtower["noop"], taskiq, copy)
    if args.io_records:
        io_report(args, jobtower["io-per-record"], jobtower["io-batched"], io_taskiq)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="jobtower-bench-"))
    failed = True
    try:
        with postgres_server() as database_url, EmbeddedRedis(work / "redis") as redis:
            asyncio.run(bench(database_url, redis, work / "logs", args))
        failed = False
    finally:
        if failed or args.keep_logs:
            print(f"logs: {work / 'logs'}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
