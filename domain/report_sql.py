"""SQL pieces of the read-only reports (statistics, live ops): the actor's jobs as a
derived table, and time arithmetic and percentiles spelled per dialect.

Reports aggregate in the database and bring back one row per bucket, never one
per job: a tenant may have millions of jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.queryset import QuerySet

from domain import db
from domain.models import Job


def scoped_jobs(jobs: QuerySet[Job]) -> str:
    """``jobs`` (built on ``visible_jobs``) as the derived table ``j`` of a raw query.

    Its filters are inlined. Callers only ever filter it on ids and flags, never on
    user text, which stays a ``?`` parameter of the outer query. Both backends flatten
    the derived table, so the outer conditions still reach the job indexes.
    """
    return f"({jobs.sql(params_inline=True)}) AS j"


def truncate(column: str, unit: str) -> str:
    """``column`` rounded down to its UTC ``unit`` (``hour`` or ``day``)."""
    if db.dialect() == "postgres":
        return f"date_trunc('{unit}', {column} AT TIME ZONE 'UTC')"
    # SQLite stores UTC text ("2026-11-05 10:42:07.123456+00:00"); strftime reads the offset.
    pattern = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d 00:00:00"}[unit]
    return f"strftime('{pattern}', {column})"


def epoch_day(column: str) -> str:
    """The UTC day of ``column`` as whole days since 1970-01-01."""
    if db.dialect() == "postgres":
        return f"FLOOR(EXTRACT(EPOCH FROM {column}) / 86400)::bigint"
    return f"CAST(strftime('%s', {column}) AS INTEGER) / 86400"


def seconds_between(later: str, earlier: str) -> str:
    """``later - earlier`` in seconds, as a float.

    SQLite keeps time to the millisecond; ``julianday`` differences are rounded back
    to it so that e.g. 60 s reads 60.0 and not 59.99999.
    """
    if db.dialect() == "postgres":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))::float8"
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


def grouped_with_percentile(
    rows: str, value: str, fraction: float, aggregates: str, group: str = "bucket"
) -> str:
    """``SELECT group, aggregates, p`` over the subquery ``rows``, ``p`` being the
    continuous percentile ``fraction`` of ``value`` within each group (NULLs ignored).

    PostgreSQL has ``percentile_cont``. SQLite has none, so it is computed the same
    way with window functions: rank the values of each group, take the two around
    position ``fraction * (n - 1)`` and interpolate linearly. The engine sorts the
    values; nothing comes back to Python but the one result row per group.
    """
    if db.dialect() == "postgres":
        return (
            f"SELECT {group}, {aggregates},"
            f" percentile_cont({fraction}) WITHIN GROUP (ORDER BY {value}) AS p"
            f" FROM ({rows}) s GROUP BY {group}"
        )
    low = f"MAX(CASE WHEN rn = CAST(pos AS INTEGER) THEN {value} END)"
    high = f"MAX(CASE WHEN rn = CAST(pos AS INTEGER) + 1 THEN {value} END)"
    weight = "MAX(pos - CAST(pos AS INTEGER))"
    ranked = (
        f"SELECT s.*,"
        f" ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY {value} IS NULL, {value}) - 1 AS rn,"
        f" {fraction} * (COUNT({value}) OVER (PARTITION BY {group}) - 1) AS pos"
        f" FROM ({rows}) s"
    )
    return (
        f"SELECT {group}, {aggregates},"
        f" {low} + COALESCE({weight} * ({high} - {low}), 0) AS p"
        f" FROM ({ranked}) s GROUP BY {group}"
    )


def as_utc(value: datetime | str) -> datetime:
    """A truncated timestamp as either backend returns it, as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
