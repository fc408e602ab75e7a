"""One DataLoader per relation, built per request: the queries a request makes depend on the
shape of the GraphQL query, never on how many jobs, chunks or records it returns."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from domain.access import Actor
from domain.bulk import can_see_operation
from domain.jobs import can_see
from domain.inputs import check_text
from domain.listing import MAX_SEARCH_LENGTH, count_per_parent, first_per_parent, record_row
from domain.logs import LogLevel, RecordPlace, records_named
from domain.models import BulkOperation, BulkTarget, Chunk, Job, JobEvent, JobLog, Principal, Record, Tenant
from domain.estimates import QueuePlace, queue_places
from domain.open_records import InFlight, WaitingRecords, records_in_flight, waiting_records
from domain.progress import Progress, children_progress
from domain.registry import registry
from domain.statuses import BulkTargetStatus, RecordStatus
from domain.sync_sizes import sync_sizes
from gql.pacing import Pacer, current_pacer, pace_page

M = TypeVar("M", bound=Model)
K = TypeVar("K")
V = TypeVar("V")

# (parent id, page size, after) -> (rows, more follow)
PageKey = tuple[int, int, Any]
PageResult = tuple[list[Any], bool]
FilteredLoaders = tuple[DataLoader[PageKey, PageResult], DataLoader[int, int]]
LEVELS = list(LogLevel)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class PacedLoader(DataLoader[K, V]):
    """A DataLoader whose loads wait while parts of a paced request wait for their turns
    (gql.pacing): each of 100 jobs' pages of chunks completes in a turn of its own, and the
    records of all their chunks still load in one batch."""

    def load(self, key: K) -> Awaitable[V]:
        pacer = current_pacer()
        if pacer is None or not pacer.pacing():
            return super().load(key)
        return self._load_when_settled(pacer, key)

    async def _load_when_settled(self, pacer: Pacer, key: K) -> V:
        while pacer.pacing():
            await pacer.settled()
        return await super().load(key)


def _by_id(model: type[M], visible: Callable[[M], bool] = lambda _: True) -> DataLoader[int, M | None]:
    async def load(ids: Sequence[int]) -> list[M | None]:
        rows = {row.pk: row for row in await model.filter(id__in=list(ids))}
        return [row if row is not None and visible(row) else None for row in (rows.get(i) for i in ids)]

    return PacedLoader(load_fn=load)


def _pages(
    model: type[Model],
    parent_column: str,
    order_column: str,
    *,
    descending: bool = False,
    where: str = "",
    params: Sequence[Any] = (),
    read: Callable[[Mapping[str, Any]], Any] | None = None,
) -> DataLoader[PageKey, PageResult]:
    async def load(keys: Sequence[PageKey]) -> list[PageResult]:
        groups: dict[tuple[int, Any], list[int]] = defaultdict(list)
        for parent, size, after in keys:
            groups[(size, after)].append(parent)
        found: dict[PageKey, PageResult] = {}
        for (size, after), parents in groups.items():
            pages = await first_per_parent(
                model, parent_column, order_column, parents, size, after,
                descending=descending, where=where, params=params, read=read,
            )
            for parent, page in pages.items():
                found[(parent, size, after)] = page
        return [found[key] for key in keys]

    return PacedLoader(load_fn=load)


def _counts(model: type[Model], parent_column: str, where: str = "", params: Sequence[Any] = ()) -> DataLoader[int, int]:
    async def load(parents: Sequence[int]) -> list[int]:
        counts = await count_per_parent(model, parent_column, list(parents), where, params)
        return [counts[parent] for parent in parents]

    return PacedLoader(load_fn=load)


class Loaders:
    def __init__(
        self, actor: Actor, worker_slots: Callable[[], Awaitable[int]], now: Callable[[], datetime]
    ) -> None:
        """``worker_slots`` and ``now``: the request's live figures, read when first needed."""
        hidden_system = "" if actor.sees_system_jobs else "system = ?"
        hidden_params = () if actor.sees_system_jobs else (False,)
        self.job: DataLoader[int, Job | None] = _by_id(Job, lambda job: can_see(actor, job))
        self.tenant: DataLoader[int, Tenant | None] = _by_id(Tenant)
        self.principal: DataLoader[int, Principal | None] = _by_id(Principal)
        self.chunk: DataLoader[int, Chunk | None] = _by_id(Chunk)
        self.chunk_pages = _pages(Chunk, "job_id", "index")
        self.chunk_count = _counts(Chunk, "job_id")
        self.chunk_record_pages = _pages(Record, "chunk_id", "position", read=record_row)
        self.chunk_record_count = _counts(Record, "chunk_id")
        self.child_pages = _pages(Job, "parent_id", "id", where=hidden_system, params=hidden_params)
        self.child_count = _counts(Job, "parent_id", hidden_system, hidden_params)
        # A job's history, oldest first.
        self.event_pages = _pages(JobEvent, "job_id", "seq")
        self.event_count = _counts(JobEvent, "job_id")
        # A schedule's runs, newest first.
        self.schedule_runs = _pages(Job, "schedule_id", "id", descending=True, where=hidden_system, params=hidden_params)
        self.bulk_operation: DataLoader[int, BulkOperation | None] = _by_id(
            BulkOperation, lambda operation: can_see_operation(actor, operation)
        )
        # The jobs a bulk operation's verb refused, in job order.
        refused = (BulkTargetStatus.FAILED.value,)
        self.bulk_error_pages = _pages(BulkTarget, "operation_id", "job_id", where="status = ?", params=refused)
        self.bulk_error_count = _counts(BulkTarget, "operation_id", "status = ?", refused)
        # The record a log line names, by its place (a line's job is one the asker sees).
        self.log_record: DataLoader[RecordPlace, Record | None] = PacedLoader(load_fn=_records_named)
        self._filtered: dict[Hashable, tuple[DataLoader[PageKey, PageResult], DataLoader[int, int]]] = {}
        self.children_progress: DataLoader[Job, Progress] = PacedLoader(
            load_fn=self._children_progress(actor), cache_key_fn=lambda job: job.id
        )
        # The viewer's tenant's chunk size per job type name.
        self.sync_size: DataLoader[str, int] = PacedLoader(load_fn=self._sync_sizes(actor))

        async def load_places(job_ids: Sequence[int]) -> list[QueuePlace | None]:
            places = await queue_places(job_ids, await worker_slots(), now())
            return [places.get(job_id) for job_id in job_ids]

        async def load_waiting(job_ids: Sequence[int]) -> list[WaitingRecords | None]:
            found = await waiting_records(job_ids)
            return [found.get(job_id) for job_id in job_ids]

        async def load_in_flight(chunks: Sequence[Chunk]) -> list[InFlight | None]:
            found = await records_in_flight(chunks, now())
            return [found.get(chunk.id) for chunk in chunks]

        # A PENDING job's place in line; the queue is read, and its claims replayed, once per batch.
        self.queue_place: DataLoader[int, QueuePlace | None] = PacedLoader(load_fn=load_places)
        self.waiting_records: DataLoader[int, WaitingRecords | None] = PacedLoader(load_fn=load_waiting)
        self.records_in_flight: DataLoader[Chunk, InFlight | None] = PacedLoader(
            load_fn=load_in_flight, cache_key_fn=lambda chunk: chunk.id
        )

    def job_records(self, statuses: tuple[RecordStatus, ...]) -> FilteredLoaders:
        """Pages and counts of a job's records, optionally of some statuses only."""
        where = f"status IN ({', '.join('?' for _ in statuses)})" if statuses else ""
        return self._filtered_loaders(
            ("records", statuses), Record, "position", where, [s.value for s in statuses], read=record_row
        )

    def job_logs(
        self,
        level: LogLevel | None,
        search: str | None,
        since: datetime | None,
        until: datetime | None,
        descending: bool = False,
    ) -> FilteredLoaders:
        """Pages and counts of a job's log lines at ``level`` or above, matching text and time,
        in the order written (or newest first)."""
        conditions: list[str] = []
        params: list[Any] = []
        if level is not None:
            wanted = LEVELS[LEVELS.index(level):]
            conditions.append(f"level IN ({', '.join('?' for _ in wanted)})")
            params.extend(value.value for value in wanted)
        if search:
            check_text("search", search, MAX_SEARCH_LENGTH)
            conditions.append("LOWER(message) LIKE ? ESCAPE '\\'")
            params.append("%" + _escape_like(search.lower()) + "%")
        if since is not None:
            conditions.append("at >= ?")
            params.append(since)
        if until is not None:
            conditions.append("at < ?")
            params.append(until)
        key = ("logs", level, search, since, until, descending)
        return self._filtered_loaders(key, JobLog, "id", " AND ".join(conditions), params, descending=descending)

    def _filtered_loaders(
        self,
        key: Hashable,
        model: type[Model],
        order_column: str,
        where: str,
        params: Sequence[Any],
        read: Callable[[Mapping[str, Any]], Any] | None = None,
        descending: bool = False,
    ) -> FilteredLoaders:
        if key not in self._filtered:
            self._filtered[key] = (
                _pages(model, "job_id", order_column, descending=descending, where=where, params=params, read=read),
                _counts(model, "job_id", where, params),
            )
        return self._filtered[key]

    @staticmethod
    def _children_progress(actor: Actor) -> Callable[[Sequence[Job]], Awaitable[list[Progress]]]:
        async def load(parents: Sequence[Job]) -> list[Progress]:
            progress = await children_progress(parents, actor.sees_system_jobs)
            return [progress[parent.id] for parent in parents]

        return load

    @staticmethod
    def _sync_sizes(actor: Actor) -> Callable[[Sequence[str]], Awaitable[list[int]]]:
        async def load(names: Sequence[str]) -> list[int]:
            sizes = await sync_sizes(actor.tenant_id, [registry.get(name) for name in names])
            return [sizes[name] for name in names]

        return load


async def _records_named(places: Sequence[RecordPlace]) -> list[Record | None]:
    found = await records_named(places)
    return [found.get(place) for place in places]


async def load_page(loader: DataLoader[PageKey, PageResult], parent: int, size: int, after: Any) -> PageResult:
    if size == 0:
        return [], await _has_any(loader, parent, after)
    page = await loader.load((parent, size, after))
    # The pages of every parent arrive in one turn of the event loop: in a heavy operation,
    # each completes in a turn of its own once the request has had its slice.
    await pace_page()
    return page


async def _has_any(loader: DataLoader[PageKey, PageResult], parent: int, after: Any) -> bool:
    items, more = await loader.load((parent, 1, after))
    return bool(items) or more

