"""Reading jobs and their parts page by page, the way the API's connections need them.

Every page is keyset-paginated (no OFFSET), so the last page of a million
records costs what the first does, and every size is bounded by ``MAX_PAGE``.
Pages of many parents at once (the first chunks of each of 50 jobs) come from
one query that scans each parent's index range only as far as its page.
"""

from __future__ import annotations

import asyncio

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

import msgspec
from tortoise.expressions import Q
from tortoise.models import Model

from domain import db
from domain.access import Actor, Role
from domain.errors import InvalidInput, NotFound
from domain.inputs import check_text
from domain.jobs import visible_jobs
from domain.models import Job, Record
from domain.opaque import MAX_KEY, seal, unseal
from domain.partitions import PARTITIONED, in_partitions, partitions_of_parents
from domain.statuses import JobStatus, RecordStatus

DEFAULT_PAGE = 20
MAX_PAGE = 100
MAX_SEARCH_LENGTH = 200
# A type filter names job types, whose names fit their column; a filter names few of them.
MAX_TYPE_LENGTH = 100
MAX_TYPES = 100

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInput("first", f"must be between 0 and {MAX_PAGE}")
    return first


_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"))


def encode_cursor(*values: Any) -> str:
    # Every edge of a page has its cursor, mostly one position: its JSON is written directly,
    # as json.dumps would (a console page makes 10,000 of them).
    if len(values) == 1 and type(values[0]) is int:
        text = f"[{values[0]}]"
    else:
        text = _CURSOR_JSON.encode(values)
    return base64.urlsafe_b64encode(text.encode()).decode()


def key_cursor(kind: str, key: int) -> str:
    """The cursor of a row ordered by its primary key: sealed, as its id is, since the key is a
    sequence shared by every tenant."""
    return encode_cursor(seal(kind, key))


# Cursors are the only decoder of ``after``: whatever a client sends, it gets a list's cursor
# values or INVALID_INPUT, never an exception of its own.


def _not_a_cursor() -> InvalidInput:
    return InvalidInput("after", "is not a cursor from this list")


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: not JSON, and never in a cursor


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The values of a cursor this module made; INVALID_INPUT for anything else."""
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()), parse_constant=_no_constants)
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise _not_a_cursor() from None
    if not isinstance(values, list) or len(values) != arity:
        raise _not_a_cursor()
    return values


def _whole(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_KEY:
        raise _not_a_cursor()
    return value


def decode_position(cursor: str | None) -> int | None:
    """The position (a record's, a chunk's index, an event's seq) of ``encode_cursor(position)``."""
    values = decode_cursor(cursor, 1)
    return None if values is None else _whole(values[0])


def _key(value: Any, kind: str) -> int:
    opened = unseal(value, (kind,))
    if opened is None:
        raise _not_a_cursor()
    return opened[1]


def decode_key(cursor: str | None, kind: str) -> int | None:
    """The primary key of ``key_cursor(kind, key)``."""
    values = decode_cursor(cursor, 1)
    return None if values is None else _key(values[0], kind)


# ---------------------------------------------------------------- the job list


class JobOrderField(StrEnum):
    CREATED_AT = "CREATED_AT"


class Direction(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True)
class JobListFilter:
    status: Sequence[JobStatus] | None = None
    type: Sequence[str] | None = None
    tenant_id: int | None = None
    run_by: int | None = None
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_system: bool = False
    include_hidden: bool = False
    root_only: bool = False
    parent_id: int | None = None


@dataclass(frozen=True)
class JobOrder:
    field: JobOrderField = JobOrderField.CREATED_AT
    direction: Direction = Direction.DESC


@dataclass
class JobPage:
    page: Page[Job]
    # Counting is a second query, run only when asked for.
    filtered: Any = field(repr=False, default=None)

    async def total_count(self) -> int:
        return await self.filtered.count()


def filtered_jobs(actor: Actor, where: JobListFilter) -> Any:
    jobs = visible_jobs(actor)
    if where.tenant_id is not None:
        if not actor.sees_tenant(where.tenant_id):
            raise NotFound("tenant", where.tenant_id)
        jobs = jobs.filter(tenant_id=where.tenant_id)
    if where.include_system:
        # Refused rather than ignored: a list that silently left them out would look complete.
        actor.require(Role.ADMIN, "listing system jobs (includeSystem)")
    else:
        jobs = jobs.filter(system=False)
    if not where.include_hidden:
        jobs = jobs.filter(hidden=False)
    if where.status:
        jobs = jobs.filter(status__in=list(where.status))
    if where.type:
        if len(where.type) > MAX_TYPES:
            raise InvalidInput("type", f"must name at most {MAX_TYPES} job types")
        for name in where.type:
            check_text("type", name, MAX_TYPE_LENGTH)
        jobs = jobs.filter(type__in=list(where.type))
    if where.run_by is not None:
        jobs = jobs.filter(run_by_id=where.run_by)
    if where.created_after is not None:
        jobs = jobs.filter(created_at__gte=where.created_after)
    if where.created_before is not None:
        jobs = jobs.filter(created_at__lt=where.created_before)
    if where.root_only:
        jobs = jobs.filter(parent_id=None)
    if where.parent_id is not None:
        jobs = jobs.filter(parent_id=where.parent_id)
    if where.search:
        text = where.search.strip()
        check_text("search", text, MAX_SEARCH_LENGTH)
        if text:
            jobs = jobs.filter(
                Q(name__icontains=text)
                | Q(type__icontains=text)
                | Q(tenant__slug__icontains=text)
                | Q(tenant__name__icontains=text)
                | Q(run_by__name__icontains=text)
            )
    return jobs


async def list_jobs(
    actor: Actor,
    where: JobListFilter,
    order: JobOrder = JobOrder(),
    first: int | None = None,
    after: str | None = None,
) -> JobPage:
    size = page_size(first)
    jobs = filtered_jobs(actor, where)
    page = jobs
    descending = order.direction is Direction.DESC
    position = decode_cursor(after, 2)
    if position is not None:
        at = _cursor_time(position[0])
        job_id = _key(position[1], "Job")
        if descending:
            page = page.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=job_id))
        else:
            page = page.filter(Q(created_at__gt=at) | Q(created_at=at, id__gt=job_id))
    ordering = ("-created_at", "-id") if descending else ("created_at", "id")
    rows = await page.order_by(*ordering).limit(size + 1)
    items = rows[:size]
    return JobPage(
        page=Page(
            items=items,
            cursors=[encode_cursor(job.created_at.isoformat(), seal("Job", job.id)) for job in items],
            has_next=len(rows) > size,
        ),
        filtered=jobs,
    )


def _cursor_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _not_a_cursor()
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _not_a_cursor() from None
    if at.tzinfo is None:
        raise _not_a_cursor()  # compared with aware times, it would raise
    return at


# ---------------------------------------------------------------- pages of many parents


async def first_per_parent(
    model: type[Model],
    parent_column: str,
    order_column: str,
    parent_ids: Sequence[int],
    size: int,
    after: int | None = None,
    *,
    descending: bool = False,
    where: str = "",
    params: Sequence[Any] = (),
    read: Callable[[Mapping[str, Any]], Any] | None = None,
) -> dict[int, tuple[list[Any], bool]]:
    """For each parent: up to ``size`` rows ordered by ``order_column`` (past ``after``), and
    whether more follow. One query for all parents; ``where`` adds SQL with ``?`` params.
    Rows become models, or what ``read`` makes of each (``record_row``).

    Each parent's page is its own index range scan that stops after ``size + 1`` rows
    (a LATERAL subquery on PostgreSQL, a correlated ``IN (… LIMIT)`` on SQLite), so a page
    costs the same at the start, the middle or the end of a million rows. A window
    function over the parents would read every row of each parent before the cursor.
    """
    if not parent_ids:
        return {}
    table = model._meta.db_table
    comparison = "<" if descending else ">"
    direction = "DESC" if descending else "ASC"
    conditions = [f"{parent_column} = p.parent"]
    arguments: list[Any] = []
    if table in PARTITIONED:
        kept, partitions = in_partitions(await partitions_of_parents(parent_column, list(parent_ids)))
        conditions.append(kept)
        arguments.extend(partitions)
    if after is not None:
        conditions.append(f'"{order_column}" {comparison} ?')
        arguments.append(after)
    if where:
        conditions.append(f"({where})")
        arguments.extend(params)
    order = f'"{order_column}"'
    filters = f"FROM {table} WHERE {' AND '.join(conditions)} ORDER BY {order} {direction} LIMIT ?"
    # Whole rows in the same query: fetching the pages' rows by id afterwards costs a query
    # with one parameter per row (10,000 records for the console) and more than this one.
    if db.dialect() == "postgres":
        sql = (
            "SELECT p.parent AS _parent, r.* FROM unnest(CAST(? AS BIGINT[])) AS p(parent)"
            f" CROSS JOIN LATERAL (SELECT * {filters}) r"
        )
        values = [list(parent_ids), *arguments, size + 1]
    else:
        marks = ", ".join("(?)" for _ in parent_ids)
        sql = (
            f"WITH p(parent) AS (VALUES {marks}) SELECT p.parent AS _parent, r.*"
            f" FROM p JOIN {table} r ON r.id IN (SELECT id {filters})"
        )
        values = [*parent_ids, *arguments, size + 1]
    found: dict[int, list[dict[str, Any]]] = {parent: [] for parent in parent_ids}
    for row in await db.fetch(sql, values):
        found[row["_parent"]].append(row)
    if read is None:
        # The extra _parent key is ignored: the model reads the columns it has.
        read = lambda row: model._init_from_db(**row)  # noqa: E731
    pages: dict[int, tuple[list[Any], bool]] = {}
    for parent, rows in found.items():
        rows.sort(key=lambda row: (row[order_column], row["id"]), reverse=descending)
        pages[parent] = ([read(row) for row in rows[:size]], len(rows) > size)
        # A parent's rows at a time: the pages of 100 parents would hold the event loop, and
        # every other request, for as long as they all take to read.
        await asyncio.sleep(0)
    return pages


@dataclass(slots=True)
class RecordRow:
    """A record as pages of records show it, read without a Tortoise model: building 10,000
    models (the console's main query) cost more than the rest of reading them."""

    id: int
    job_id: int
    chunk_id: int
    position: int
    key: str
    status: RecordStatus
    error: str | None
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    journey: list[Any]


_RECORD_STATUSES = {status.value: status for status in RecordStatus}
_RECORD_FIELDS = Record._meta.fields_map
_record_time = _RECORD_FIELDS["started_at"].to_python_value  # the time zone Tortoise gives every time
_RECORD_JSON = msgspec.json.Decoder()


def record_row(row: Mapping[str, Any]) -> RecordRow:
    """A page's record from its row, with the values a Record model would hold."""
    journey = row["journey"]
    return RecordRow(
        id=row["id"],
        job_id=row["job_id"],
        chunk_id=row["chunk_id"],
        position=row["position"],
        key=row["key"],
        status=_RECORD_STATUSES.get(row["status"]) or RecordStatus(row["status"]),
        error=row["error"],
        attempts=row["attempts"],
        started_at=_record_time(row["started_at"]),
        ended_at=_record_time(row["ended_at"]),
        # msgspec: a fifth of json.loads' time, and integers of any size like it.
        journey=_RECORD_JSON.decode(journey) if isinstance(journey, (str, bytes)) else journey,
    )


async def count_per_parent(
    model: type[Model], parent_column: str, parent_ids: Sequence[int], where: str = "", params: Sequence[Any] = ()
) -> dict[int, int]:
    if not parent_ids:
        return {}
    marks = ", ".join("?" for _ in parent_ids)
    extra = f" AND {where}" if where else ""
    partitions: list[int] = []
    if model._meta.db_table in PARTITIONED:
        kept, partitions = in_partitions(await partitions_of_parents(parent_column, list(parent_ids)))
        extra += f" AND {kept}"
    rows = await db.fetch(
        f"SELECT {parent_column} AS parent, COUNT(*) AS n FROM {model._meta.db_table}"
        f" WHERE {parent_column} IN ({marks}){extra} GROUP BY {parent_column}",
        [*parent_ids, *params, *partitions],
    )
    counts = {parent: 0 for parent in parent_ids}
    for row in rows:
        counts[row["parent"]] = int(row["n"])
    return counts

