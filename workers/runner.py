"""Runs one leased chunk: every record through the job type's steps, timed into its journey.

The runner holds the lease with a heartbeat that also watches the job's
status. Records run inside one task, a window of them at a time: each window
goes through the steps' stages (a batch step takes its records together, per-
record steps take ``record_concurrency`` of them at once). Every few windows
(a flush) the outcomes and the cursor are written in one transaction. A stop
or cancel request lets the current window finish; a force stop cancels it, and
the records it cut off end INTERRUPTED. ``_final_operation`` is the one place
a chunk's end is decided.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.access import Actor, ActorKind, Role
from domain.clock import utcnow
from domain.counts import COUNTERS, Counts
from domain.execution import (
    ClaimedChunk,
    RecordResult,
    heartbeat,
    release_chunk,
    save_results,
    start_chunk,
    tally_records,
)
from domain.jobs import StartJobRequest, start_job
from domain.journey import Entry, continued, entry, waiting_step
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Record
from domain.registry import FailJob, JobType, SkipRecord, Step, StepSignal, WaitForAnswer
from domain.statuses import ChunkOperation, JobStatus, RecordStatus, StepStatus, keeps_working
from jobtower import tracing
from jobtower.tracing import CHUNK_INDEX, JOB_ID, JOB_TYPE, OUTCOME, RECORDS_WITH
from workers.deadline import Deadline
from workers.progress import ProgressPublisher

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000
INTERRUPTED_ERROR = "interrupted by a force stop"
# A chunk's run logs its first failed records one line each, then one line per flush for
# the rest: a job with a hundred thousand failures keeps its log readable and its speed.
FAILURE_LINES_PER_CHUNK = 100


@dataclass(frozen=True)
class RunnerSettings:
    owner: str
    lease: timedelta
    heartbeat_seconds: float
    flush_records: int
    flush_seconds: float


@dataclass
class Item:
    """A record to run: its place, its key, and its row if it continues after a wait."""

    position: int
    key: str
    existing: Record | None = None


@dataclass
class StepContext:
    """What a step sees (domain.registry.RecordContext)."""

    runner: ChunkRunner
    job_id: int
    key: str
    position: int
    params: Mapping[str, Any]
    payload: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    detail: Any = None
    wait_timeout: timedelta | None = None
    # What the step gave this record with ``fail`` in its current attempt.
    failure: Exception | None = None

    def log(self, level: str, message: str, **fields: Any) -> None:
        self.runner.logs.append(
            LogLine(
                job_id=self.job_id,
                level=LogLevel(level.upper()),
                message=message,
                fields=fields,
                chunk_index=self.runner.chunk.index,
                record_key=self.key,
            )
        )

    def set_detail(self, detail: Any) -> None:
        self.detail = detail

    def fail(self, error: Exception) -> None:
        self.failure = error

    async def spawn_child(
        self, type: str, params: Mapping[str, Any] | None = None, name: str | None = None
    ) -> int:
        job = self.runner.job
        # The platform starts children on behalf of whoever ran the parent, from the parent's work.
        actor = Actor(
            tenant_id=job.tenant_id,
            role=Role.ADMIN,
            name=f"job {job.id}",
            principal_id=job.run_by_id,
            kind=ActorKind.WORKER,
        )
        child = await start_job(
            actor, StartJobRequest(type=type, params=dict(params or {}), name=name, parent_id=job.id)
        )
        return child.id


_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class RunClock:
    """``perf_counter_ns`` and the time of day, read once for a chunk's run: the records' times
    derive from ``perf_counter_ns`` through it. Read both per record, a preemption between the
    two reads (a loaded machine) would give records that start together different times."""

    origin_ns: int
    at: datetime

    @classmethod
    def now(cls) -> RunClock:
        return cls(time.perf_counter_ns(), utcnow())

    def whole_microseconds(self, ns: int) -> int:
        """``ns`` on this clock's microseconds: offsets from it then add up without rounding."""
        return ns - (ns - self.origin_ns) % 1000

    def time_of(self, ns: int) -> datetime:
        return self.at + (ns - self.origin_ns) // 1000 * _MICROSECOND

    def ns_of(self, at: datetime) -> int:
        return self.origin_ns + (at - self.at) // _MICROSECOND * 1000


@dataclass(slots=True)
class RecordRun:
    """A record on its way through the steps, in one run of its chunk."""

    item: Item
    context: StepContext
    # When its first step began (also across a wait), and perf_counter_ns then: the journey's
    # offset 0. None until a fresh record's first step begins: a record of a window may wait
    # for the records before it.
    started_at: datetime | None
    origin: int | None
    journey: list[Any]
    # The stored entry of the step it waited in, until that step has run again.
    waited: Entry | None
    next_step: int
    # It ran a step in this run.
    ran: bool = False
    # Set once a step ended it.
    status: RecordStatus | None = None
    error: str | None = None

    def starts(self, clock: RunClock, now_ns: int | None = None) -> None:
        """Its first step begins, now or at ``now_ns`` (the records of a batch call share it)."""
        if self.origin is None:
            self.origin = clock.whole_microseconds(time.perf_counter_ns() if now_ns is None else now_ns)
            self.started_at = clock.time_of(self.origin)

    def step_ran(self, status: StepStatus, error: str | None, began_ns: int, ended_ns: int) -> None:
        assert self.origin is not None
        began_us = (began_ns - self.origin) // 1000
        ended_us = (ended_ns - self.origin) // 1000
        detail = self.context.detail
        if self.waited is not None:
            # One entry spans the step, its wait and who answered it.
            self.journey.append(continued(self.waited, status, began_us, ended_us, detail, error))
            self.waited = None
        else:
            # A step that asks keeps how long it ran before it did.
            self.journey.append(entry(self.next_step, status, began_us, ended_us - began_us, detail, error))
        self.ran = True
        self.next_step += 1
        if status is not StepStatus.SUCCEEDED:
            self.status = _RECORD_STATUS[status]
            self.error = error


class ChunkRunner:
    def __init__(
        self,
        claimed: ClaimedChunk,
        job_type: JobType,
        settings: RunnerSettings,
        publisher: ProgressPublisher,
        draining: asyncio.Event,
    ) -> None:
        self.claimed = claimed
        self.chunk = claimed.chunk
        self.job = claimed.job
        self.existing = claimed.existing
        self.job_type = job_type
        self.steps = job_type.steps_for(self.job.params)
        self.width = job_type.concurrency_for(self.job.params)
        self.stages = _stages(self.steps)
        # Records that go through the stages together: enough for the largest batch step.
        self.window = max([self.width, *(step.batch_size or 1 for step in self.steps)])
        self.settings = settings
        self.publisher = publisher
        self.draining = draining
        self.job_status: JobStatus = self.job.status
        self.lease_lost = False
        self.forced = asyncio.Event()
        self.clock = RunClock.now()
        self.job_failure: str | None = None
        self.logs: list[LogLine] = []
        self.failure_lines = 0
        self.cursor = self.chunk.cursor
        # What this run wrote, and the span it runs in.
        self.written = Counts()
        self.span: tracing.Span = tracing.UNRECORDED

    # ------------------------------------------------------------ the run

    async def run(self) -> None:
        """Run the chunk in a span of the job's trace (``jobtower.tracing``) saying what it wrote."""
        attributes = {JOB_ID: self.job.id, JOB_TYPE: self.job.type, CHUNK_INDEX: self.chunk.index}
        with tracing.span("run chunk", self.job.trace_context, attributes) as self.span:
            outcome = await self._run()
            self.span.set_attribute(OUTCOME, outcome)
            for counter in COUNTERS:
                self.span.set_attribute(RECORDS_WITH.format(counter), getattr(self.written, counter))

    async def _run(self) -> str:
        """How the run ended: the chunk's operation, or why it ended without one."""
        if not await start_chunk(self.claimed, self.settings.owner):
            return "taken back"  # stopped or taken back between the claim and the start
        self.job_status = self.job.status
        beating = asyncio.create_task(self._heartbeat())
        try:
            await self._run_items(self._items())
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
        if self.lease_lost:
            log.warning("chunk %s: lease lost; another worker takes over", self.chunk.id)
            return "lease lost"
        await self._flush([])
        operation = await self._final_operation()
        await release_chunk(self.chunk.id, self.settings.owner, operation, run_failure=self.job_failure)
        return operation.value

    def _items(self) -> list[Item]:
        """Records continuing after a wait first, then the chunk's range from its cursor."""
        continuing = [
            Item(record.position, record.key, record)
            for record in sorted(self.existing.values(), key=lambda r: r.position)
            if record.status is RecordStatus.PENDING
        ]
        keys = self.chunk.keys
        fresh = [
            Item(position, keys[position - self.chunk.range_start])
            for position in range(self.chunk.cursor, self.chunk.range_end)
            if position not in self.existing
        ]
        return continuing + fresh

    async def _run_items(self, items: list[Item]) -> None:
        # A flush holds whole windows, so a batch step's call is never cut short by it.
        size = -(-self.settings.flush_records // self.window) * self.window
        offset = 0
        while offset < len(items) and not self._must_stop():
            flush = items[offset : offset + size]
            work = asyncio.create_task(self._run_until_flush(flush))
            forced = asyncio.create_task(self.forced.wait())
            await asyncio.wait({work, forced}, return_when=asyncio.FIRST_COMPLETED)
            forced.cancel()
            if not work.done():
                work.cancel()
            results = await work
            offset += len(results)
            fresh = [r.position for r in results if r.record_id is None]
            if fresh:
                self.cursor = max(self.cursor, max(fresh) + 1)
            await self._flush(results)
            if self.lease_lost:
                return

    async def _run_until_flush(self, items: Sequence[Item]) -> list[RecordResult]:
        """Run records, a window at a time, until they are done, the flush interval passes, or the
        job must stop.

        Cancelled (force stop), it returns what it has, the cut-off records INTERRUPTED; records
        of the window that had not begun are left out, to run another time.
        """
        results: list[RecordResult] = []
        window = self.window
        deadline = time.monotonic() + self.settings.flush_seconds
        for start in range(0, len(items), window):
            runs = [self._begin(item) for item in items[start : start + window]]
            for stage in self.stages:
                await self._run_stage(stage, runs)
                if self.forced.is_set():
                    break
            results.extend(self._result(run) for run in runs if run.ran)
            if self._must_stop() or time.monotonic() > deadline:
                break
        return results

    def _begin(self, item: Item) -> RecordRun:
        continuing = item.existing
        started_at = continuing.started_at if continuing else None
        journey: list[Any] = list(continuing.journey) if continuing else []
        # The step that waited runs again first, from its stored entry.
        waited = journey.pop() if waiting_step(journey) is not None else None
        origin = None
        if started_at is not None:
            # Journey offsets count from the record's first start, also across a wait.
            origin = self.clock.ns_of(started_at)
        context = StepContext(
            runner=self,
            job_id=self.job.id,
            key=item.key,
            position=item.position,
            params=self.job.params,
            payload=continuing.wait_payload if continuing else None,
        )
        return RecordRun(item, context, started_at, origin, journey, waited, waited[0] if waited else 0)

    async def _run_stage(self, stage: range, runs: Sequence[RecordRun]) -> None:
        """The records that reach ``stage`` through it: a batch step in calls of its batch size,
        per-record steps ``width`` records at a time."""
        step = self.steps[stage.start]
        if step.run_batch is not None:
            reaching = [run for run in runs if run.status is None and run.next_step == stage.start]
            size = step.batch_size or 1
            for start in range(0, len(reaching), size):
                await self._call_batch(step, reaching[start : start + size])
                if self.forced.is_set():
                    return
            return
        reaching = [run for run in runs if run.status is None and run.next_step < stage.stop]
        width = self.width
        for start in range(0, len(reaching), width):
            if width == 1:
                await self._run_steps(reaching[start], stage.stop)
            else:
                tasks = [
                    asyncio.create_task(self._run_steps(run, stage.stop)) for run in reaching[start : start + width]
                ]
                try:
                    await asyncio.gather(*tasks)
                except asyncio.CancelledError:
                    for task in tasks:
                        task.cancel()
                    await asyncio.wait(tasks)
            if self.forced.is_set():
                return

    async def _run_steps(self, run: RecordRun, stop: int) -> None:
        """One record through its per-record steps before ``stop``, until one ends it."""
        steps = self.steps
        context = run.context
        run.starts(self.clock)
        while run.status is None and run.next_step < stop:
            context.detail = None
            began = time.perf_counter_ns()
            status, error = await self._run_step(steps[run.next_step], context)
            run.step_ran(status, error, began, time.perf_counter_ns())

    async def _run_step(self, step: Step, context: StepContext) -> tuple[StepStatus, str | None]:
        """One step, each attempt under its timeout; the chunk's heartbeat, a task of its own,
        beats on meanwhile."""
        assert step.run is not None
        attempt = 0
        while True:
            deadline = Deadline(step.timeout.total_seconds())
            context.failure = None
            try:
                if (rest := deadline.start(step.run(context))) is not None:
                    await rest
            except (Exception, asyncio.CancelledError) as error:
                raised: BaseException | None = error
            else:
                raised = context.failure
            if raised is None:
                return StepStatus.SUCCEEDED, None
            if attempt < step.retries and _retried(raised):
                attempt += 1
                continue
            return self._outcome(step, context, raised, deadline.expired())

    async def _call_batch(self, step: Step, runs: Sequence[RecordRun]) -> None:
        """One call of a batch step for ``runs``, then calls for the records whose attempt failed
        while they have retries left. Each record's entry spans from the first call to the end
        of the call that settled it."""
        assert step.run_batch is not None
        began = time.perf_counter_ns()
        for run in runs:
            run.starts(self.clock, began)
            run.context.detail = None
        attempt = 0
        while runs:
            contexts = [run.context for run in runs]
            for context in contexts:
                context.failure = None
            deadline = Deadline(step.timeout.total_seconds())
            raised: BaseException | None = None
            try:
                if (rest := deadline.start(step.run_batch(contexts))) is not None:
                    await rest
            except (Exception, asyncio.CancelledError) as error:
                raised = error  # it befalls every record of the call
            ended = time.perf_counter_ns()
            again = []
            for run in runs:
                failure = raised if raised is not None else run.context.failure
                if failure is None:
                    run.step_ran(StepStatus.SUCCEEDED, None, began, ended)
                elif attempt < step.retries and _retried(failure):
                    again.append(run)
                else:
                    timed_out = raised is not None and deadline.expired()
                    run.step_ran(*self._outcome(step, run.context, failure, timed_out), began, ended)
            runs = again
            attempt += 1

    def _outcome(
        self, step: Step, context: StepContext, raised: BaseException, timed_out: bool
    ) -> tuple[StepStatus, str | None]:
        """What a step's last attempt raised (or gave its record with ``context.fail``) makes of
        the record."""
        if isinstance(raised, SkipRecord):
            return StepStatus.SKIPPED, str(raised) or None
        if isinstance(raised, WaitForAnswer):
            context.payload = None
            context.wait_timeout = raised.timeout
            return StepStatus.WAITING, str(raised) or None
        if isinstance(raised, FailJob):
            self.job_failure = str(raised) or f"step {step.name} failed the job"
            return StepStatus.FAILED, self.job_failure
        if isinstance(raised, asyncio.CancelledError):
            return StepStatus.INTERRUPTED, INTERRUPTED_ERROR
        # A step's own fault or its timeout, past its retries: the record fails.
        if timed_out:
            message = f"timed out after {step.timeout.total_seconds():g} s"
        else:
            message = f"{type(raised).__name__}: {raised}"[:MAX_ERROR_LENGTH]
        if step.fail_job:
            self.job_failure = f"step {step.name} failed: {message}"
        return StepStatus.FAILED, message

    def _result(self, run: RecordRun) -> RecordResult:
        status, error = run.status, run.error
        if status is None:  # every step it ran passed
            if run.next_step < len(self.steps):  # a force stop came before the next one
                status, error = RecordStatus.INTERRUPTED, INTERRUPTED_ERROR
            else:
                status = RecordStatus.SUCCEEDED
        continuing = run.item.existing
        now = utcnow()
        waits = status is RecordStatus.WAITING
        assert run.started_at is not None  # it ran a step
        return RecordResult(
            position=run.item.position,
            key=run.item.key,
            status=status,
            started_at=run.started_at,
            ended_at=None if waits else now,
            journey=run.journey,
            error=error,
            attempts=(continuing.attempts if continuing else 0) + 1,
            record_id=continuing.id if continuing else None,
            wait_deadline=_deadline_for(status, run.context.wait_timeout),
            waiting_since=now if waits else None,
        )

    # ------------------------------------------------------------ control

    def _must_stop(self) -> bool:
        return (
            self.lease_lost
            or self.forced.is_set()
            or self.job_failure is not None
            or self.draining.is_set()
            or not keeps_working(self.job_status, self.job.stoppable)
        )

    async def _heartbeat(self) -> None:
        lease = self.settings.lease
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                status = await heartbeat(self.chunk.id, self.settings.owner, lease)
            except Exception:  # the database blinked: the lease has slack; try again
                log.exception("chunk %s: heartbeat failed", self.chunk.id)
                continue
            if status is None:
                self.lease_lost = True
                self.forced.set()
                return
            self.job_status = status
            if status is JobStatus.STOPPED:  # only a force stop ends a job we still hold
                self.forced.set()

    async def _flush(self, results: Sequence[RecordResult]) -> None:
        if results:
            added = await save_results(self.job, self.chunk.id, self.settings.owner, results, self.cursor)
            if added is None:
                self.lease_lost = True
                return
            self.written += added
            if added.failed:
                failures = self._failure_lines(results)
                self.logs.extend(failures)
                for line in failures:
                    self.span.add_event("record failed", {"jobtower.record.key": line.record_key or "", "message": line.message})
            if added.interrupted:
                self.logs.append(self._interrupted_line(added))
        if self.logs:
            lines, self.logs = self.logs, []
            await write_logs(lines)
            await self.publisher.logs(lines)
        if results:
            await self.publisher.progress(
                job_id=self.job.id, tenant_id=self.job.tenant_id, seq=self.job.seq, status=self.job_status.value
            )

    def _failure_lines(self, results: Sequence[RecordResult]) -> list[LogLine]:
        failed = [result for result in results if result.status is RecordStatus.FAILED]
        room = max(0, FAILURE_LINES_PER_CHUNK - self.failure_lines)
        lines = [self._failure_line(result) for result in failed[:room]]
        if len(failed) > room:
            lines.append(
                LogLine(
                    job_id=self.job.id,
                    level=LogLevel.ERROR,
                    message=f"chunk {self.chunk.index}: {len(failed) - room} more records failed"
                    f" (first {failed[room].key}: {failed[room].error})",
                    fields={"failedRecords": len(failed) - room},
                    chunk_index=self.chunk.index,
                    record_key=failed[room].key,
                )
            )
        self.failure_lines += len(lines)
        return lines

    def _failure_line(self, result: RecordResult) -> LogLine:
        step = self.steps[result.journey[-1][0]] if result.journey else None
        name = step.name if step else "?"
        return LogLine(
            job_id=self.job.id,
            level=LogLevel.ERROR,
            message=f"record {result.key} failed at step {name}: {result.error}",
            fields={"step": name, "retries": step.retries if step else 0, "error": result.error},
            chunk_index=self.chunk.index,
            record_key=result.key,
        )

    def _interrupted_line(self, added: Counts) -> LogLine:
        return LogLine(
            job_id=self.job.id,
            level=LogLevel.WARNING,
            message=f"chunk {self.chunk.index}: {added.interrupted} records in flight were interrupted"
            " by a force stop; data may be inconsistent",
            fields={"interruptedRecords": added.interrupted},
            chunk_index=self.chunk.index,
        )

    async def _final_operation(self) -> ChunkOperation:
        """How the chunk ends: every record has an outcome, or it waits, stops, or goes back."""
        if self.job_failure is not None:
            return ChunkOperation.FAIL
        if self.job_status in (JobStatus.CANCELING, JobStatus.CANCELED):
            return ChunkOperation.CANCEL
        tally = await tally_records(self.job, self.chunk.id)
        every_record_ran = sum(tally.values()) >= self.chunk.range_end - self.chunk.range_start
        if every_record_ran and not tally.get(RecordStatus.PENDING):
            if tally.get(RecordStatus.WAITING):
                return ChunkOperation.PARK
            if tally.get(RecordStatus.INTERRUPTED):
                return ChunkOperation.END_INCOMPLETE
            return ChunkOperation.COMPLETE
        if keeps_working(self.job_status, self.job.stoppable):
            # This worker shuts down, or records were answered while the chunk ran
            # (they were not in this run's list): another run continues.
            return ChunkOperation.REQUEUE
        if self.job_status is JobStatus.FAILED:
            return ChunkOperation.FAIL
        return ChunkOperation.STOP


def _stages(steps: Sequence[Step]) -> list[range]:
    """The steps cut where a batch step stands: each batch step alone, the others in runs of
    consecutive per-record steps that each record goes through on its own."""
    stages: list[range] = []
    start = 0
    for index, step in enumerate(steps):
        if step.run_batch is not None:
            stages.extend(stage for stage in (range(start, index), range(index, index + 1)) if stage)
            start = index + 1
    if start < len(steps):
        stages.append(range(start, len(steps)))
    return stages


def _retried(raised: BaseException) -> bool:
    """A fault or a timeout is tried again; a step's signal or a force stop is final."""
    return not isinstance(raised, (StepSignal, asyncio.CancelledError))


def _deadline_for(status: RecordStatus, timeout: timedelta | None) -> Any:
    return utcnow() + timeout if status is RecordStatus.WAITING and timeout else None


_RECORD_STATUS = {
    StepStatus.FAILED: RecordStatus.FAILED,
    StepStatus.SKIPPED: RecordStatus.SKIPPED,
    StepStatus.WAITING: RecordStatus.WAITING,
    StepStatus.INTERRUPTED: RecordStatus.INTERRUPTED,
}
