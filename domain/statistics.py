"""Job statistics over a time range, in hour or day buckets.

Each figure belongs to the bucket in which its moment falls:

- ``created``: jobs whose ``created_at`` falls in the bucket;
- ``started``, and the waiting time (``started_at - created_at``) avg/min/max/p95:
  jobs whose ``started_at`` falls in the bucket, however long ago they were created;
- ``finished`` / ``failed``: jobs whose ``ended_at`` falls in the bucket and whose
  status is ``FINISHED`` / ``FAILED``;
- the duration (``ended_at - started_at``) avg/p95 and ``records_processed`` (the sum
  of the jobs' ``done`` counters): every job whose ``ended_at`` falls in the bucket,
  whatever its end (finished, failed, canceled, stopped). A job canceled before it
  started has no duration. A stopped job that is resumed loses its ``ended_at``, so
  it leaves the bucket it stopped in and counts where it ends next.

The figures are read from the jobs as they are now, not from a history: a job
pruned by retention no longer counts. Hidden jobs count (hiding only tidies lists).
Times are in seconds, to the millisecond; a figure with no data is None.

Buckets are aligned to UTC hours or days, contiguous from the one holding ``start``
to the one holding the last instant before ``end``, empty ones included. Only
moments in ``[start, end)`` count, so the first and last bucket may cover part of
their hour or day.

All of it is aggregated in SQL, grouped by the truncated timestamp: one row per
bucket comes back, never one per job. The 95th percentile is PostgreSQL's
``percentile_cont``; on SQLite, the embedded default, the same interpolation is
done with window functions, which sorts the range's values inside SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.queryset import QuerySet

from domain import db
from domain.access import Actor
from domain.errors import InvalidInput, NotFound
from domain.jobs import visible_jobs
from domain.models import Job, Tenant
from domain.report_sql import (
    as_utc,
    grouped_with_percentile,
    scoped_jobs,
    seconds_between,
    truncate,
)
from domain.statuses import JobStatus

# A hundred days of hours: the console's longest range (90 days) fits in hourly buckets.
# A chart of more buckets than this is unreadable, and the query should stay cheap.
MAX_BUCKETS = 2_400
PERCENTILE = 0.95


class StatsBucketSize(StrEnum):
    HOUR = "HOUR"  # one bucket per UTC hour
    DAY = "DAY"  # one bucket per UTC day

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self is StatsBucketSize.HOUR else timedelta(days=1)

    @property
    def unit(self) -> str:
        return self.value.lower()

    def floor(self, moment: datetime) -> datetime:
        moment = moment.replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0) if self is StatsBucketSize.DAY else moment


@dataclass(frozen=True)
class Bucket:
    start: datetime
    created: int = 0
    started: int = 0
    finished: int = 0
    failed: int = 0
    wait_avg: float | None = None
    wait_min: float | None = None
    wait_max: float | None = None
    wait_p95: float | None = None
    duration_avg: float | None = None
    duration_p95: float | None = None
    records_processed: int = 0


async def job_statistics(
    actor: Actor,
    start: datetime,
    end: datetime,
    bucket: StatsBucketSize,
    tenant_id: int | None = None,
    type: str | None = None,
) -> list[Bucket]:
    """The buckets of ``[start, end)`` over the jobs ``actor`` sees (see the module doc).

    Naive datetimes are taken as UTC. ``tenant_id`` narrows to one tenant: another
    tenant's id answers ``NotFound`` for anyone but the platform, like a missing one.
    """
    start, end = _utc(start), _utc(end)
    starts = bucket_starts(start, end, bucket)
    jobs = await _scope(actor, tenant_id)
    figures: dict[datetime, dict[str, Any]] = {moment: {} for moment in starts}
    for rows in (
        await _created(jobs, start, end, bucket, type),
        await _started(jobs, start, end, bucket, type),
        await _ended(jobs, start, end, bucket, type),
    ):
        for moment, values in rows.items():
            figures[moment].update(values)
    return [Bucket(start=moment, **figures[moment]) for moment in starts]


def bucket_starts(start: datetime, end: datetime, bucket: StatsBucketSize) -> list[datetime]:
    """The aligned starts of the buckets covering ``[start, end)``; refuses unbounded ranges."""
    if end <= start:
        raise InvalidInput("to", "must be after from")
    first = bucket.floor(start)
    count = -(-(end - first) // bucket.step)  # ceiling division
    if count > MAX_BUCKETS:
        fits_in_days = -(-(end - StatsBucketSize.DAY.floor(start)) // timedelta(days=1)) <= MAX_BUCKETS
        raise InvalidInput(
            "bucket" if bucket is StatsBucketSize.HOUR and fits_in_days else "to",
            f"the range holds {count} {bucket.unit} buckets; at most {MAX_BUCKETS} are allowed",
        )
    return [first + bucket.step * n for n in range(count)]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _scope(actor: Actor, tenant_id: int | None) -> QuerySet[Job]:
    jobs = visible_jobs(actor)
    if tenant_id is None:
        return jobs
    if not actor.sees_tenant(tenant_id) or not await Tenant.exists(id=tenant_id):
        raise NotFound("tenant", tenant_id)
    return jobs.filter(tenant_id=tenant_id)


def _in_range(column: str, type: str | None) -> str:
    """``column`` in ``[start, end)``; the parameters are ``_params``. Every job counted
    was created before ``end``, which lets the started and ended queries use the
    ``created_at`` indexes too."""
    condition = f"j.{column} >= ? AND j.{column} < ? AND j.created_at < ?"
    return condition + " AND j.type = ?" if type is not None else condition


def _params(start: datetime, end: datetime, type: str | None) -> list[Any]:
    return [start, end, end, *([type] if type is not None else [])]


async def _created(
    jobs: QuerySet[Job], start: datetime, end: datetime, bucket: StatsBucketSize, type: str | None
) -> dict[datetime, dict[str, Any]]:
    condition = _in_range("created_at", type)
    rows = await db.fetch(
        f"SELECT {truncate('j.created_at', bucket.unit)} AS bucket, COUNT(*) AS n"
        f" FROM {scoped_jobs(jobs)} WHERE {condition} GROUP BY 1",
        _params(start, end, type),
    )
    return {as_utc(row["bucket"]): {"created": int(row["n"])} for row in rows}


async def _started(
    jobs: QuerySet[Job], start: datetime, end: datetime, bucket: StatsBucketSize, type: str | None
) -> dict[datetime, dict[str, Any]]:
    condition = _in_range("started_at", type)
    waits = (
        f"SELECT {truncate('j.started_at', bucket.unit)} AS bucket,"
        f" {seconds_between('j.started_at', 'j.created_at')} AS wait"
        f" FROM {scoped_jobs(jobs)} WHERE {condition}"
    )
    rows = await db.fetch(
        grouped_with_percentile(
            waits,
            "wait",
            PERCENTILE,
            "COUNT(*) AS n, AVG(wait) AS wait_avg, MIN(wait) AS wait_min, MAX(wait) AS wait_max",
        ),
        _params(start, end, type),
    )
    return {
        as_utc(row["bucket"]): {
            "started": int(row["n"]),
            "wait_avg": _seconds(row["wait_avg"]),
            "wait_min": _seconds(row["wait_min"]),
            "wait_max": _seconds(row["wait_max"]),
            "wait_p95": _seconds(row["p"]),
        }
        for row in rows
    }


async def _ended(
    jobs: QuerySet[Job], start: datetime, end: datetime, bucket: StatsBucketSize, type: str | None
) -> dict[datetime, dict[str, Any]]:
    condition = _in_range("ended_at", type)
    # A job canceled before it started has an end but no duration: NULL, left out of both.
    ends = (
        f"SELECT {truncate('j.ended_at', bucket.unit)} AS bucket, j.status AS status, j.done AS done,"
        f" CASE WHEN j.started_at IS NULL THEN NULL"
        f" ELSE {seconds_between('j.ended_at', 'j.started_at')} END AS duration"
        f" FROM {scoped_jobs(jobs)} WHERE {condition}"
    )
    rows = await db.fetch(
        grouped_with_percentile(
            ends,
            "duration",
            PERCENTILE,
            f"SUM(CASE WHEN status = '{JobStatus.FINISHED.value}' THEN 1 ELSE 0 END) AS finished,"
            f" SUM(CASE WHEN status = '{JobStatus.FAILED.value}' THEN 1 ELSE 0 END) AS failed,"
            " AVG(duration) AS duration_avg, SUM(done) AS records",
        ),
        _params(start, end, type),
    )
    return {
        as_utc(row["bucket"]): {
            "finished": int(row["finished"]),
            "failed": int(row["failed"]),
            "duration_avg": _seconds(row["duration_avg"]),
            "duration_p95": _seconds(row["p"]),
            "records_processed": int(row["records"] or 0),
        }
        for row in rows
    }


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)
