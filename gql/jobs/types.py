"""Jobs and their parts: Job, Chunk, Record, Step, LogEntry, Progress, JobType.

Every relation goes through a loader in the context; live figures use the
request's single ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry

from domain import models
from domain.health import is_stalled
from domain.journey import decode
from domain.listing import Direction, RecordRow, decode_key, decode_position, encode_cursor, key_cursor, page_size
from domain.logs import LogLevel, record_place
from domain.progress import (
    Progress as ProgressFigures,
    WaitingReason,
    chunk_progress,
    duration_seconds,
    job_progress,
    waiting_reason,
    waiting_seconds,
)
from domain.estimates import QueuePlace
from domain.open_records import holds_records
from domain.registry import JobType as DomainJobType
from domain.statuses import (
    RECORD_OUTCOMES,
    ChunkStatus,
    JobOutcome,
    JobStatus,
    RecordStatus,
    StepStatus,
)
from gql.context import Info
from gql.ids import to_global_id
from gql.jobs.events import JobEventNode
from gql.jobs.waiting import RecordsInFlight, WaitingRecords
from gql.loaders import PageResult, load_page
from gql.logs.selection import selects
from gql.node import Connection, Node
from gql.pacing import behind, pace
from gql.scalars import JSON, BigInt
from gql.tenants.types import PrincipalNode, TenantNode


@strawberry.type(
    description="Records by outcome. Never decreases while a job runs; `done` counts every outcome."
)
class Progress:
    total: BigInt | None
    done: BigInt
    succeeded: BigInt
    failed: BigInt = strawberry.field(description="Records whose steps failed past their retries.")
    skipped: BigInt
    interrupted: BigInt = strawberry.field(description="Records in flight when the job was force-stopped.")
    canceled: BigInt = strawberry.field(description="Records that never ran: their job was canceled.")
    percent: float | None
    estimated: bool

    @classmethod
    def of(cls, figures: ProgressFigures) -> Progress:
        counts = figures.counts
        return cls(
            total=figures.total,
            done=counts.done,
            succeeded=counts.succeeded,
            failed=counts.failed,
            skipped=counts.skipped,
            interrupted=counts.interrupted,
            canceled=counts.canceled,
            percent=figures.percent,
            estimated=figures.estimated,
        )


def _seconds(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    return None if start is None else ((end or now) - start).total_seconds()


def _connection(result: PageResult, wrap: Any, cursor_of: Any, count: Any) -> Connection[Any]:
    rows, more = result
    return Connection.of([wrap(row) for row in rows], [cursor_of(row) for row in rows], more, count)


@strawberry.type(name="Job")
class JobNode(Node):
    """What a job's row says is read once, into plain fields: a list of jobs completes
    them without a resolver call each (``gql/execution.py``)."""

    model: strawberry.Private[models.Job]
    type: str
    name: str
    status: JobStatus
    outcome: JobOutcome | None
    error: str | None
    params: JSON
    system: bool
    hidden: bool
    low_priority: bool
    stoppable: bool
    restartable: bool
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    progress: Progress = strawberry.field(
        description="Live: raised as the workers write records, the same in every event."
    )
    has_errors: bool = strawberry.field(description="Some record failed or the job logged an error.")
    chunk_size: int
    seq: BigInt

    @classmethod
    def of(cls, job: models.Job) -> JobNode:
        return cls(
            id=to_global_id("Job", job.id),
            model=job,
            type=job.type,
            name=job.name,
            status=job.status,
            outcome=job.outcome,
            error=job.error,
            params=job.params,
            system=job.system,
            hidden=job.hidden,
            low_priority=job.low_priority,
            stoppable=job.stoppable,
            restartable=job.restartable,
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            progress=Progress.of(job_progress(job)),
            has_errors=bool(job.failed or job.error_logs or job.status is JobStatus.FAILED),
            chunk_size=job.chunk_size,
            seq=job.seq,
        )

    @strawberry.field
    async def tenant(self, info: Info) -> TenantNode:
        tenant = await info.context.loaders.tenant.load(self.model.tenant_id)
        return TenantNode.of(tenant)

    @strawberry.field
    async def run_by(self, info: Info) -> PrincipalNode | None:
        if self.model.run_by_id is None:
            return None
        principal = await info.context.loaders.principal.load(self.model.run_by_id)
        return PrincipalNode.of(principal) if principal else None

    @strawberry.field(description="startedAt − createdAt; grows while the job waits to start.")
    def waiting_seconds(self, info: Info) -> float:
        return waiting_seconds(self.model, info.context.now)

    @strawberry.field(description="endedAt − startedAt; grows while the job runs.")
    def duration_seconds(self, info: Info) -> float | None:
        return duration_seconds(self.model, info.context.now)

    @strawberry.field
    async def parent(self, info: Info) -> JobNode | None:
        return await _job(info, self.model.parent_id)

    @strawberry.field
    async def root(self, info: Info) -> JobNode | None:
        if self.model.root_id in (None, self.model.id):
            return self
        return await _job(info, self.model.root_id)

    @strawberry.field
    async def restarted_from(self, info: Info) -> JobNode | None:
        return await _job(info, self.model.restarted_from_id)

    @strawberry.field
    async def children(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[JobNode]:
        loaders = info.context.loaders
        result = await load_page(loaders.child_pages, self.model.id, page_size(first), decode_key(after, "Job"))
        return _connection(
            result,
            JobNode.of,
            lambda job: key_cursor("Job", job.id),
            lambda: loaders.child_count.load(self.model.id),
        )

    @strawberry.field(
        description="What happened to the job, oldest first: what each event changed, who or what caused it, when."
    )
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[JobEventNode]:
        loaders = info.context.loaders
        result = await load_page(loaders.event_pages, self.model.id, page_size(first), decode_position(after))
        return _connection(
            result,
            lambda event: JobEventNode.of_event(event, self),
            lambda event: encode_cursor(event.seq),
            lambda: loaders.event_count.load(self.model.id),
        )

    @strawberry.field(
        description="The progress of every descendant (children, their children, and so on) summed;"
        " estimated while descendants may still appear or have not counted their records."
    )
    async def children_progress(self, info: Info) -> Progress:
        return Progress.of(await info.context.loaders.children_progress.load(self.model))

    @strawberry.field
    async def chunks(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ChunkNode]:
        loaders = info.context.loaders
        result = await load_page(loaders.chunk_pages, self.model.id, page_size(first), decode_position(after))
        return _connection(
            result,
            ChunkNode.of,
            lambda chunk: encode_cursor(chunk.index),
            lambda: loaders.chunk_count.load(self.model.id),
        )

    @strawberry.field(description="Records that started, in enumeration order; filter by status.")
    async def records(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[RecordStatus] | None = None,
    ) -> Connection[RecordNode]:
        loaders = info.context.loaders
        pages, count = loaders.job_records(tuple(sorted(status or ())))
        result = await load_page(pages, self.model.id, page_size(first), decode_position(after))
        names = self.model.step_names
        return _connection(
            result,
            lambda record: RecordNode.of(record, info.context.now, names),
            lambda record: encode_cursor(record.position),
            lambda: count.load(self.model.id),
        )

    @strawberry.field(
        description="The job's log in the order it was written: oldest first (ASC, the default) or newest"
        " first (DESC); after continues in the order asked, so the two orders page both ways from a line."
        " level is the minimum level shown; since <= at < until."
    )
    async def logs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        level: LogLevel | None = None,
        search: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        order: Direction = Direction.ASC,
    ) -> Connection[LogEntryNode]:
        loaders = info.context.loaders
        pages, count = loaders.job_logs(level, search, since, until, descending=order is Direction.DESC)
        lines, more = await load_page(pages, self.model.id, page_size(first), decode_key(after, "LogEntry"))
        entries = await log_entries(info, lines, with_records=selects(info, "record"))
        return Connection.of(
            entries, [key_cursor("LogEntry", line.id) for line in lines], more, lambda: count.load(self.model.id)
        )

    @strawberry.field(
        description="RUNNING with no progress past its type's stall threshold, or no live worker to run it."
    )
    async def stalled(self, info: Info) -> bool:
        if self.model.status is not JobStatus.RUNNING:
            return False
        return is_stalled(self.model, info.context.now, await info.context.workers_online())

    @strawberry.field(description="Why a job that is not running now waits; null while it runs.")
    async def waiting_reason(self, info: Info) -> WaitingReason | None:
        if self.model.status not in (JobStatus.PENDING, JobStatus.WAITING, JobStatus.STOPPED):
            return None
        busy = await info.context.busy_roots()
        return waiting_reason(
            self.model,
            workers_online=await info.context.workers_online(),
            busy_roots=len(busy - {self.model.root_id}),
        )

    @strawberry.field(
        description="A PENDING job's place among the PENDING jobs by when the worker slots will take their "
        "first chunk (1 starts next), in the fair order the slots take work: per tenant, then per root job, "
        "least in flight and least done first, low priority last. Null when it is not waiting for a slot, "
        "or its place is not known yet (its records are still being enumerated, or it is far back)."
    )
    async def queue_position(self, info: Info) -> int | None:
        place = await self._queue_place(info)
        return None if place is None else place.position

    @strawberry.field(
        description="When a PENDING job's first chunk will start, from the worker slots online, how long "
        "chunks took lately and the work ahead of it in the fair order; null when that is not known "
        "(no worker online, no chunk completed lately, or no queuePosition)."
    )
    async def estimated_start_at(self, info: Info) -> datetime | None:
        place = await self._queue_place(info)
        return None if place is None else place.estimated_start_at

    async def _queue_place(self, info: Info) -> QueuePlace | None:
        if self.model.status is not JobStatus.PENDING:
            return None
        return await info.context.loaders.queue_place.load(self.model.id)

    @strawberry.field(description="For a WAITING job: the records that wait for an answer; null otherwise.")
    async def waiting_records(self, info: Info) -> WaitingRecords | None:
        if self.model.status is not JobStatus.WAITING:
            return None
        found = await info.context.loaders.waiting_records.load(self.model.id)
        return None if found is None else WaitingRecords.of(found)


async def _job(info: Info, job_id: int | None) -> JobNode | None:
    if job_id is None:
        return None
    job = await info.context.loaders.job.load(job_id)
    return JobNode.of(job) if job else None


@strawberry.type(name="Chunk")
class ChunkNode(Node):
    model: strawberry.Private[models.Chunk]

    @classmethod
    def of(cls, chunk: models.Chunk) -> ChunkNode:
        return cls(id=to_global_id("Chunk", chunk.id), model=chunk)

    @strawberry.field
    async def job(self, info: Info) -> JobNode | None:
        return await _job(info, self.model.job_id)

    @strawberry.field
    def index(self) -> int:
        return self.model.index

    @strawberry.field
    def status(self) -> ChunkStatus:
        return self.model.status

    @strawberry.field
    def cursor(self) -> BigInt:
        return self.model.cursor

    @strawberry.field(description="Live: raised as its worker writes records.")
    def progress(self) -> Progress:
        return Progress.of(chunk_progress(self.model))

    @strawberry.field(
        description="While a worker runs the chunk: the records it has in hand and has not written yet. "
        "Null when no worker holds it started (pending, queued, waiting, ended, or its worker's lease ran out)."
    )
    async def in_flight(self, info: Info) -> RecordsInFlight | None:
        if not holds_records(self.model, info.context.now):
            return None
        found = await info.context.loaders.records_in_flight.load(self.model)
        return None if found is None else RecordsInFlight.of(found)

    @strawberry.field
    def attempts(self) -> int:
        return self.model.attempts

    @strawberry.field
    def started_at(self) -> datetime | None:
        return self.model.started_at

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return self.model.ended_at

    @strawberry.field
    def duration_seconds(self, info: Info) -> float | None:
        return _seconds(self.model.started_at, self.model.ended_at, info.context.now)

    @strawberry.field
    async def records(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[RecordNode]:
        loaders = info.context.loaders
        result = await load_page(loaders.chunk_record_pages, self.model.id, page_size(first), decode_position(after))
        job = await loaders.job.load(self.model.job_id)
        names = job.step_names if job else []
        return _connection(
            result,
            lambda record: RecordNode.of(record, info.context.now, names),
            lambda record: encode_cursor(record.position),
            lambda: loaders.chunk_record_count.load(self.model.id),
        )


@strawberry.type
class Step:
    name: str
    status: StepStatus
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None = strawberry.field(
        description="endedAt − startedAt: for a step that waited, its wait included (waitedSeconds)."
    )
    detail: JSON | None
    error: str | None
    waited_seconds: float | None = strawberry.field(
        description="How long the step waited between asking for an answer and running again; null if it never waited."
    )
    answered_by: str | None = strawberry.field(
        description="Who answered the step's wait (completeWait), or system when it timed out."
    )


@strawberry.type(name="Record")
class RecordNode(Node):
    # Plain fields, not resolvers: a page of the console holds thousands of records, and
    # a resolver per scalar costs more than the rest of the request.
    model: strawberry.Private[models.Record | RecordRow]
    # The job's step names when the caller had the job at hand; read from it otherwise.
    step_names: strawberry.Private[list[str] | None]
    key: str
    position: BigInt
    status: RecordStatus
    outcome: RecordStatus | None = strawberry.field(description="How the record ended; null while it is open.")
    error: str | None
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None

    @classmethod
    def of(cls, record: models.Record | RecordRow, now: datetime, step_names: list[str] | None = None) -> RecordNode:
        """``now`` is the request's: an open record's duration grows with it."""
        return cls(
            id=to_global_id("Record", record.id),
            model=record,
            step_names=step_names,
            key=record.key,
            position=record.position,
            status=record.status,
            outcome=record.status if record.status in RECORD_OUTCOMES else None,
            error=record.error,
            attempts=record.attempts,
            started_at=record.started_at,
            ended_at=record.ended_at,
            duration_seconds=_seconds(record.started_at, record.ended_at, now),
        )

    @strawberry.field
    async def job(self, info: Info) -> JobNode | None:
        return await _job(info, self.model.job_id)

    @strawberry.field
    async def chunk(self, info: Info) -> ChunkNode | None:
        chunk = await info.context.loaders.chunk.load(self.model.chunk_id)
        return ChunkNode.of(chunk) if chunk else None

    @strawberry.field(description="The record's steps with their timings.")
    def journey(self, info: Info) -> list[Step]:
        # Synchronous when the step names came with the record: thousands of awaits
        # per page would cost more than decoding the journeys. Once the request has had its
        # slice of the event loop, the rest of its journeys wait for later turns (gql.pacing).
        if self.model.started_at is None or not self.model.journey:
            return []
        if self.step_names is not None and not behind():
            return _steps(self.model, self.step_names)
        return self._journey_later(info)  # type: ignore[return-value] - awaited by the executor

    async def _journey_later(self, info: Info) -> list[Step]:
        await pace()
        if self.step_names is not None:
            return _steps(self.model, self.step_names)
        job = await info.context.loaders.job.load(self.model.job_id)
        return _steps(self.model, job.step_names if job else [])


def _steps(record: models.Record | RecordRow, names: list[str]) -> list[Step]:
    return decode(record.journey, names, record.started_at, Step)


@strawberry.type(name="LogEntry")
class LogEntryNode(Node):
    at: datetime
    level: LogLevel
    message: str
    fields: JSON
    chunk_index: int | None
    record_key: str | None
    # Read with the page of lines, all at once (log_entries): a resolver per line cost as much as
    # the rest of the page.
    record: RecordNode | None = strawberry.field(
        description="The record the line is about; null when it names none, or one not written yet."
    )

    @classmethod
    def of(cls, line: models.JobLog, record: RecordNode | None = None) -> LogEntryNode:
        return cls(
            id=to_global_id("LogEntry", line.id),
            at=line.at,
            level=LogLevel(line.level),
            message=line.message,
            fields=line.fields_,
            chunk_index=line.chunk_index,
            record_key=line.record_key,
            record=record,
        )


async def log_entries(info: Info, lines: Sequence[models.JobLog], with_records: bool) -> list[LogEntryNode]:
    """The lines as entries, with their records when ``with_records`` (the query asks for them),
    read for all the lines in one go."""
    if not with_records:
        return [LogEntryNode.of(line) for line in lines]
    places = [record_place(line) for line in lines]
    named = [place for place in places if place is not None]
    records = dict(zip(named, await info.context.loaders.log_record.load_many(named)))
    now = info.context.now
    return [
        LogEntryNode.of(line, RecordNode.of(record, now) if (record := records.get(place)) else None)
        for line, place in zip(lines, places)
    ]


@strawberry.type(description="One step of a job type's per-record pipeline.")
class JobTypeStep:
    name: str
    retries: int = strawberry.field(description="Extra attempts after a failure before the record fails.")
    fails_job: bool = strawberry.field(description="When the step gives up, the whole job FAILS, not only the record.")
    may_wait: bool = strawberry.field(
        description="Its records may wait (WAITING) for an answer sent with completeWait."
    )
    answer_schema: JSON | None = strawberry.field(
        description="The JSON Schema completeWait's payload must match; null when any answer does."
    )
    batch_size: int | None = strawberry.field(
        description="A batch step takes up to this many records at once (one call for all of them), each"
        " still with its own outcome, error and journey entry; null for a step that takes one at a time."
    )


@strawberry.type(name="JobType", description="What a job type is and how it runs, for the screens that start jobs.")
class JobTypeInfo:
    name: str
    label: str = strawberry.field(description="A short name for people, e.g. \"Contact sync\".")
    description: str
    stoppable: bool
    not_stoppable_reason: str | None = strawberry.field(description="Why stopJob cannot stop it; null when it can.")
    restartable: bool
    not_restartable_reason: str | None = strawberry.field(
        description="Why restartJob cannot run it again; null when it can."
    )
    system: bool
    default_chunk_size: int
    allowed_chunk_sizes: list[int] = strawberry.field(
        description="The chunk sizes setSyncSize accepts, ascending; defaultChunkSize is one of them."
    )
    stall_threshold_seconds: float
    params_schema: JSON
    steps: list[JobTypeStep] = strawberry.field(
        description="The steps a record runs through, in order. A type that plans its pipeline from its params"
        " runs some of them."
    )

    @strawberry.field(
        description="The chunk size the viewer's tenant runs this type's jobs with when startJob names none"
        " (its Sync Size): defaultChunkSize until setSyncSize chooses another."
    )
    async def sync_size(self, info: Info) -> int:
        return await info.context.loaders.sync_size.load(self.name)

    @classmethod
    def of(cls, job_type: DomainJobType) -> JobTypeInfo:
        return cls(
            name=job_type.name,
            label=job_type.label,
            description=job_type.description,
            stoppable=job_type.stoppable,
            not_stoppable_reason=job_type.not_stoppable_reason or None,
            restartable=job_type.restartable,
            not_restartable_reason=job_type.not_restartable_reason or None,
            system=job_type.system,
            default_chunk_size=job_type.default_chunk_size,
            allowed_chunk_sizes=list(job_type.allowed_chunk_sizes),
            stall_threshold_seconds=job_type.stall_threshold.total_seconds(),
            params_schema=dict(job_type.params_schema),
            steps=[
                JobTypeStep(
                    name=step.name,
                    retries=step.retries,
                    fails_job=step.fail_job,
                    may_wait=step.may_wait,
                    answer_schema=dict(step.answer_schema) if step.answer_schema is not None else None,
                    batch_size=step.batch_size,
                )
                for step in job_type.steps
            ],
        )
