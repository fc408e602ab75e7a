"""The Statistics page's queries over 90 days of hourly buckets, on 100,000 jobs in PostgreSQL.

    .venv/bin/python -m bench.statistics [--jobs 100000] [--days 90] [--runs 21]

It starts a throwaway PostgreSQL and Redis and writes ``--jobs`` jobs straight into the
database (no workers), created over the range the page reads, the last ``--days`` days
in whole hours: nine in ten for the tenant
whose admin reads the page, the rest for another tenant, in five job types. Most finished
(some failed, a few were canceled, some before they started), with waiting times and
durations drawn from skewed distributions; the last few hours' jobs still run or wait.
Then, through the real Starlette app (in-process ASGI, the API's own code path from HTTP
request to JSON), it sends each query the page sends, ``--runs`` times one after another:

* the filter choices (job types, and the tenants for the platform);
* ``jobStatistics`` over the whole range in hours, as the 90-day preset with hourly
  buckets asks: for the tenant's admin, with a job type chosen, and for the platform
  across every tenant; and the same range in days (the preset's default).

and prints each one's server time, p50 and p90 (target p50 < 50 ms for the choices and
< 200 ms for the statistics). The first request of each query, not timed with the runs, is
printed apart: it computes the range's settled buckets from the jobs and keeps them
(``statistics_rollup``), so the runs after it read those and compute only the last hours.

It is a benchmark, not a test: it prints figures and exits non-zero only when an answer is
wrong (a bucket missing, totals that do not add up to the jobs written, or a kept answer
that differs from the one computed afresh from the jobs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.console_query import quantile, timed
from domain import db
from domain.access import PrincipalKind, Role
from domain.models import Job, StatisticsRollup
from domain.partitions import shared_partition
from domain.registry import registry
from domain.statuses import JobOutcome, JobStatus
from domain.tenants import create_tenant, create_token
from gql.ids import to_global_id
from jobtower.app import create_app
from jobtower.collector import tune_garbage_collector
from jobtower.settings import Settings
from tests.services import postgres_server
from workers.redis_server import EmbeddedRedis

TYPES = ("contact_sync", "campaign_run", "bulk_message_send", "data_import", "ai_embedding_batch")
OTHER_TENANT_SHARE = 0.1
# Jobs created this recently may still be waiting or running.
STILL_GOING = timedelta(hours=3)
BATCH = 5_000
TARGET_CHOICES_P50_MS = 50
TARGET_STATISTICS_P50_MS = 200

# The documents console/src/screens/statistics/documents.ts sends.
STATISTICS = """
query Statistics($from: DateTime!, $to: DateTime!, $bucket: StatsBucketSize!, $tenantId: ID, $type: String) {
  jobStatistics(from: $from, to: $to, bucket: $bucket, tenantId: $tenantId, type: $type) {
    buckets { start created started finished failed waitAvg waitMin waitMax waitP95
      durationAvg durationP95 recordsProcessed }
  }
}"""
CHOICES = """
query StatisticsChoices($platform: Boolean!) {
  jobTypes { name system }
  tenants @include(if: $platform) { id slug name }
}"""


def fake_jobs(tenant_ids: tuple[int, int], partition: int, count: int, start: datetime, now: datetime) -> list[Job]:
    """``count`` jobs created uniformly over ``[start, now)``, the same on every run."""
    chance = random.Random(42)
    jobs = []
    span = (now - start).total_seconds()
    for number in range(count):
        created = start + timedelta(seconds=chance.uniform(0, span))
        tenant = tenant_ids[1] if chance.random() < OTHER_TENANT_SHARE else tenant_ids[0]
        total = chance.choice((50, 200, 1_000, 5_000))
        started: datetime | None = created + timedelta(seconds=chance.expovariate(1 / 20))
        ended: datetime | None = started + timedelta(seconds=chance.lognormvariate(4, 1.2))
        roll = chance.random()
        if now - created < STILL_GOING and roll < 0.2:
            status, started, ended = JobStatus.PENDING, None, None
        elif now - created < STILL_GOING and roll < 0.5:
            status, ended = JobStatus.RUNNING, None
        elif roll < 0.03:
            status, started = JobStatus.CANCELED, None  # canceled while pending
        elif roll < 0.06:
            status = JobStatus.CANCELED
        elif roll < 0.14:
            status = JobStatus.FAILED
        else:
            status = JobStatus.FINISHED
        if started is not None and started > now:
            status, started, ended = JobStatus.PENDING, None, None
        elif ended is not None and ended > now:
            status, ended = JobStatus.RUNNING, None
        done = total if status is JobStatus.FINISHED else (chance.randrange(total) if started else 0)
        jobs.append(
            Job(
                tenant_id=tenant, partition_id=partition, type=chance.choice(TYPES), name=f"bench job {number}", params={},
                chunk_size=100, status=status, enumerated=True, seq=3,
                outcome=JobOutcome.SUCCEEDED if status is JobStatus.FINISHED else None,
                total=total, done=done, succeeded=done, created_at=created, started_at=started, ended_at=ended,
                last_progress_at=ended or started,
            )
        )
    return jobs


async def populate(count: int, start: datetime, now: datetime) -> tuple[str, str, str, float]:
    """The jobs; the admin's and the platform's tokens and the admin tenant's id."""
    began = time.perf_counter()
    bench = await create_tenant("bench", "Bench")
    other = await create_tenant("other", "Other")
    admin = await create_token("bench", Role.ADMIN, "admin", PrincipalKind.USER)
    platform = await create_token("bench", Role.PLATFORM, "platform", PrincipalKind.USER)
    jobs = fake_jobs((bench.id, other.id), await shared_partition(now), count, start, now)
    for start in range(0, len(jobs), BATCH):
        await Job.bulk_create(jobs[start : start + BATCH])
    await db.fetch("UPDATE job SET root_id = id WHERE root_id IS NULL", [])
    await db.fetch("VACUUM ANALYZE", [])  # as autovacuum leaves a table in use
    return admin.token, platform.token, str(to_global_id("Tenant", bench.id)), time.perf_counter() - began


async def run(count: int, days: int, runs: int) -> int:
    failures: list[str] = []
    load_before = os.getloadavg()[0]
    now = datetime.now(UTC)
    # The 90-day preset's range: whole hours, ending with the hour that holds now.
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=days)
    hourly = {"from": start.isoformat(), "to": end.isoformat(), "bucket": "HOUR"}
    results: list[tuple[str, float, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="jobtower-bench-") as folder, postgres_server() as database_url:
        with EmbeddedRedis(Path(folder) / "redis") as redis_server:
            await db.migrate(database_url)
            async with db.database(database_url):
                admin, platform, tenant_id, seconds = await populate(count, start, now)
                print(f"populated {count:,} jobs over {days} days in {seconds:.1f} s", flush=True)
                settings = Settings(redis_url=redis_server.url)
                app = create_app(settings, redis_server.url)
                registry.load(settings.job_types)  # as the app's lifespan does, which ASGITransport skips
                tune_garbage_collector()  # as the API process does once started
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=300) as http:
                    cases = [
                        ("filter choices (admin)", admin, CHOICES, {"platform": False}),
                        ("filter choices (platform)", platform, CHOICES, {"platform": True}),
                        (f"{days} days in hours (admin)", admin, STATISTICS, hourly),
                        (f"{days} days in hours, one type (admin)", admin, STATISTICS, {**hourly, "type": TYPES[0]}),
                        (f"{days} days in hours, every tenant (platform)", platform, STATISTICS, hourly),
                        (f"{days} days in hours, one tenant (platform)", platform, STATISTICS, {**hourly, "tenantId": tenant_id}),
                        (f"{days} days in days (admin)", admin, STATISTICS, {**hourly, "bucket": "DAY"}),
                    ]
                    answers = {}
                    for name, token, query, variables in cases:
                        # Warms statement caches and imports, and keeps the settled buckets.
                        first, _ = await timed(http, token, query, variables)
                        times = []
                        for _ in range(runs):
                            elapsed, answers[name] = await timed(http, token, query, variables)
                            times.append(elapsed)
                        results.append((name, first, times))
                    everyone = answers[f"{days} days in hours, every tenant (platform)"]["jobStatistics"]["buckets"]
                    created = sum(bucket["created"] for bucket in everyone)
                    if len(everyone) != days * 24 or created != count:
                        failures.append(f"{len(everyone)} hourly buckets counted {created:,} jobs, not {count:,}")
                    mine = answers[f"{days} days in hours (admin)"]["jobStatistics"]["buckets"]
                    narrowed = answers[f"{days} days in hours, one tenant (platform)"]["jobStatistics"]["buckets"]
                    if mine != narrowed:
                        failures.append("the platform's view of the tenant differs from its admin's")
                    for name, token, query, variables in cases[2:]:
                        await StatisticsRollup.all().delete()
                        _, afresh = await timed(http, token, query, variables)
                        if afresh != answers[name]:
                            failures.append(f"{name}: the kept buckets differ from the jobs' figures")

    print()
    print(f"server time of the Statistics page's queries, {runs} runs each (in-process ASGI, PostgreSQL;"
          f" 1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after):")
    width = max(len(name) for name, _, _ in results)
    for name, first, times in results:
        p50, p90 = statistics.median(times) * 1000, quantile(times, 0.9) * 1000
        print(f"  {name:<{width}}  p50 {p50:7,.1f} ms   p90 {p90:7,.1f} ms   first {first * 1000:7,.1f} ms")
    choices = max(statistics.median(times) * 1000 for _, _, times in results[:2])
    slowest = max(statistics.median(times) * 1000 for _, _, times in results[2:])
    print(f"  (target: the filter choices p50 < {TARGET_CHOICES_P50_MS} ms: {'met' if choices < TARGET_CHOICES_P50_MS else 'missed'};"
          f" the statistics p50 < {TARGET_STATISTICS_P50_MS} ms: {'met' if slowest < TARGET_STATISTICS_P50_MS else 'missed'})")
    for failure in failures:
        print(f"WRONG: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs written, over the range")
    parser.add_argument("--days", type=int, default=90, help="the range, in days, read in hourly buckets")
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each query")
    args = parser.parse_args()
    if args.jobs < 1 or not 1 <= args.days <= 100:
        parser.error("--jobs must be positive and --days between 1 and 100 (hourly buckets)")
    raise SystemExit(asyncio.run(run(args.jobs, args.days, args.runs)))


if __name__ == "__main__":
    main()
