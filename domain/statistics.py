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

A settled bucket (``domain.rollup``) is computed once per scope and kept with its figures
as computed, percentiles included, in ``statistics_rollup``: a 90-day range reads 2,160 kept
rows and computes only its last hours from the jobs. A kept bucket whose day changed since
is computed again, as is any bucket cut by the range's ends. Only scopes of a registered job
type (or of every type) are kept, so a caller cannot fill the table with made-up ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.queryset import QuerySet

from domain import db
from domain.access import Actor
from domain.clock import utcnow
from domain.errors import InvalidInput, NotFound
from domain.jobs import visible_jobs
from domain.models import Job, StatisticsRollup, Tenant
from domain.registry import registry
from domain.rollup import day_of, generations, settled
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
    jobs, scope = await _scope(actor, tenant_id, type)
    # Read before anything is computed: a change committed after this bumps what it read.
    seen = await generations(starts[0], starts[-1])
    found = await _kept(scope, bucket, start, end, seen) if scope else {}
    now, step = utcnow(), bucket.step
    for run in _runs([moment for moment in starts if moment not in found], step):
        computed = await _computed(jobs, max(start, run[0]), min(end, run[-1] + step), end, bucket, type)
        found.update(computed)
        if scope:
            whole = [
                figures
                for moment, figures in computed.items()
                if start <= moment and moment + step <= end and settled(moment + step, now)
            ]
            await _keep(scope, bucket, whole, seen)
    return [found[moment] for moment in starts]


def _runs(moments: list[datetime], step: timedelta) -> list[list[datetime]]:
    """``moments`` (in order) split where one does not follow the one before: the stretches
    to compute, usually the range's last hours and a bucket its start cuts."""
    runs: list[list[datetime]] = []
    for moment in moments:
        if runs and runs[-1][-1] + step == moment:
            runs[-1].append(moment)
        else:
            runs.append([moment])
    return runs


async def _computed(
    jobs: QuerySet[Job],
    start: datetime,
    end: datetime,
    created_before: datetime,
    bucket: StatsBucketSize,
    type: str | None,
) -> dict[datetime, Bucket]:
    """Every bucket of ``[start, end)``, computed from the jobs."""
    figures: dict[datetime, dict[str, Any]] = {moment: {} for moment in bucket_starts(start, end, bucket)}
    for rows in (
        await _created(jobs, start, end, created_before, bucket, type),
        await _started(jobs, start, end, created_before, bucket, type),
        await _ended(jobs, start, end, created_before, bucket, type),
    ):
        for moment, values in rows.items():
            figures[moment].update(values)
    return {moment: Bucket(start=moment, **values) for moment, values in figures.items()}


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
    step = bucket.step
    return [first + step * n for n in range(count)]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class _Scope:
    """Whose jobs a kept bucket counts: one tenant's or every tenant's (0), with or without
    system jobs, of one job type or of every type ("")."""

    tenant_id: int
    with_system: bool
    type: str

    def columns(self, bucket: StatsBucketSize) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "with_system": self.with_system, "type": self.type, "size": bucket.value}


async def _scope(actor: Actor, tenant_id: int | None, type: str | None) -> tuple[QuerySet[Job], _Scope | None]:
    """The jobs counted, and their scope if its buckets are kept."""
    jobs = visible_jobs(actor)
    if tenant_id is not None:
        if not actor.sees_tenant(tenant_id) or not await Tenant.exists(id=tenant_id):
            raise NotFound("tenant", tenant_id)
        jobs = jobs.filter(tenant_id=tenant_id)
    if type is not None and type not in registry:
        return jobs, None
    tenant = actor.tenant_id if not actor.is_platform else tenant_id or 0
    return jobs, _Scope(tenant_id=tenant, with_system=actor.sees_system_jobs, type=type or "")


_FIGURES = tuple(name for name in Bucket.__dataclass_fields__ if name != "start")


async def _kept(
    scope: _Scope, bucket: StatsBucketSize, start: datetime, end: datetime, seen: dict[int, int]
) -> dict[datetime, Bucket]:
    """The kept buckets that lie wholly in ``[start, end)`` and whose day has not changed since."""
    columns = scope.columns(bucket)
    rows = await db.fetch(
        f"SELECT day, generation, start, {', '.join(_FIGURES)} FROM statistics_rollup"
        f" WHERE {' AND '.join(f'{name} = ?' for name in columns)} AND start >= ? AND start <= ?",
        [*columns.values(), start, end - bucket.step],
    )
    kept = {}
    for row in rows:
        if row.pop("generation") == seen.get(row.pop("day"), 0):
            row["start"] = as_utc(row["start"])
            kept[row["start"]] = Bucket(**row)
    return kept


async def _keep(scope: _Scope, bucket: StatsBucketSize, buckets: list[Bucket], seen: dict[int, int]) -> None:
    """Keep these settled buckets as computed at the generations ``seen`` before computing them."""
    if not buckets:
        return
    columns = scope.columns(bucket)
    await StatisticsRollup.bulk_create(
        [
            StatisticsRollup(
                **columns,
                start=kept.start,
                day=day_of(kept.start),
                generation=seen.get(day_of(kept.start), 0),
                **{name: getattr(kept, name) for name in _FIGURES},
            )
            for kept in buckets
        ],
        batch_size=500,
        on_conflict=[*columns, "start"],
        update_fields=["day", "generation", *_FIGURES],
    )


def _in_range(column: str, type: str | None) -> str:
    """``column`` in ``[start, end)``; the parameters are ``_params``. Every job counted
    was created before the end of the range asked for (``created_before``), which lets
    the started and ended queries use the ``created_at`` indexes too."""
    condition = f"j.{column} >= ? AND j.{column} < ? AND j.created_at < ?"
    return condition + " AND j.type = ?" if type is not None else condition


def _params(start: datetime, end: datetime, created_before: datetime, type: str | None) -> list[Any]:
    return [start, end, created_before, *([type] if type is not None else [])]


async def _created(
    jobs: QuerySet[Job],
    start: datetime,
    end: datetime,
    created_before: datetime,
    bucket: StatsBucketSize,
    type: str | None,
) -> dict[datetime, dict[str, Any]]:
    condition = _in_range("created_at", type)
    rows = await db.fetch(
        f"SELECT {truncate('j.created_at', bucket.unit)} AS bucket, COUNT(*) AS n"
        f" FROM {scoped_jobs(jobs)} WHERE {condition} GROUP BY 1",
        _params(start, end, created_before, type),
    )
    return {as_utc(row["bucket"]): {"created": int(row["n"])} for row in rows}


async def _started(
    jobs: QuerySet[Job],
    start: datetime,
    end: datetime,
    created_before: datetime,
    bucket: StatsBucketSize,
    type: str | None,
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
        _params(start, end, created_before, type),
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
    jobs: QuerySet[Job],
    start: datetime,
    end: datetime,
    created_before: datetime,
    bucket: StatsBucketSize,
    type: str | None,
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
        _params(start, end, created_before, type),
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
