"""Runs one leased chunk: every record through the job type's steps, timed into its journey.

The runner holds the lease with a heartbeat that also watches the job's
status. Records run in batches inside one task; between batches the outcomes
and the cursor are written in one transaction. A stop or cancel request lets
the current batch finish; a force stop cancels it, and the records it cut off
end INTERRUPTED. ``_final_operation`` is the one place a chunk's end is decided.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from domain.access import Actor, ActorKind, Role
from domain.clock import utcnow
from domain.counts import Counts
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
from domain.journey import continued, entry, waiting_step
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Record
from domain.registry import FailJob, JobType, SkipRecord, Step, WaitForAnswer
from domain.statuses import ChunkOperation, JobStatus, RecordStatus, StepStatus, keeps_working
from workers.progress import ProgressPublisher

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000
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
        self.settings = settings
        self.publisher = publisher
        self.draining = draining
        self.job_status: JobStatus = self.job.status
        self.lease_lost = False
        self.forced = asyncio.Event()
        self.job_failure: str | None = None
        self.logs: list[LogLine] = []
        self.failure_lines = 0
        self.cursor = self.chunk.cursor

    # ------------------------------------------------------------ the run

    async def run(self) -> None:
        if not await start_chunk(self.claimed, self.settings.owner):
            return  # stopped or taken back between the claim and the start
        self.job_status = self.job.status
        beating = asyncio.create_task(self._heartbeat())
        try:
            await self._run_items(self._items())
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
        if self.lease_lost:
            log.warning("chunk %s: lease lost; another worker takes over", self.chunk.id)
            return
        await self._flush([])
        await release_chunk(
            self.chunk.id, self.settings.owner, await self._final_operation(), run_failure=self.job_failure
        )

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
        size = self.settings.flush_records
        offset = 0
        while offset < len(items) and not self._must_stop():
            batch = items[offset : offset + size]
            work = asyncio.create_task(self._run_batch(batch))
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

    async def _run_batch(self, batch: Sequence[Item]) -> list[RecordResult]:
        """Run records until the batch is done, the flush interval passes, or the job must stop.

        Cancelled (force stop), it returns what it has, the cut-off records INTERRUPTED.
        """
        results: list[RecordResult] = []
        width = self.width
        deadline = time.monotonic() + self.settings.flush_seconds
        for start in range(0, len(batch), width):
            if width == 1:
                results.append(await self._run_record(batch[start]))
            else:
                tasks = [asyncio.create_task(self._run_record(item)) for item in batch[start : start + width]]
                try:
                    await asyncio.gather(*tasks)
                except asyncio.CancelledError:
                    for task in tasks:
                        task.cancel()
                    await asyncio.wait(tasks)
                results.extend(task.result() for task in tasks)
            if self._must_stop() or time.monotonic() > deadline:
                break
        return results

    async def _run_record(self, item: Item) -> RecordResult:
        """One record through its remaining steps; the step's signal or error decides the outcome."""
        steps = self.steps
        continuing = item.existing
        started_at = continuing.started_at if continuing and continuing.started_at else utcnow()
        journey: list[Any] = list(continuing.journey) if continuing else []
        # The step that waited runs again first, from its stored entry.
        waited = journey.pop() if waiting_step(journey) is not None else None
        first_step = waited[0] if waited is not None else 0
        if continuing is None:
            origin = time.perf_counter_ns()  # a fresh record starts now
        else:
            # Journey offsets count from the record's first start, also across a wait.
            origin = time.perf_counter_ns() - (utcnow() - started_at) // timedelta(microseconds=1) * 1000
        context = StepContext(
            runner=self,
            job_id=self.job.id,
            key=item.key,
            position=item.position,
            params=self.job.params,
            payload=continuing.wait_payload if continuing else None,
        )
        status = RecordStatus.SUCCEEDED
        error: str | None = None
        for index in range(first_step, len(steps)):
            step = steps[index]
            context.detail = None
            began_us = (time.perf_counter_ns() - origin) // 1000
            step_status, error = await self._run_step(step, context)
            end_us = (time.perf_counter_ns() - origin) // 1000
            if waited is not None and index == first_step:
                # One entry spans the step, its wait and who answered it.
                journey.append(continued(waited, step_status, began_us, end_us, context.detail, error))
            else:
                # A step that asks keeps how long it ran before it did.
                journey.append(entry(index, step_status, began_us, end_us - began_us, context.detail, error))
            if step_status is StepStatus.SUCCEEDED:
                continue
            status = _RECORD_STATUS[step_status]
            break
        now = utcnow()
        waits = status is RecordStatus.WAITING
        return RecordResult(
            position=item.position,
            key=item.key,
            status=status,
            started_at=started_at,
            ended_at=None if waits else now,
            journey=journey,
            error=error,
            attempts=(continuing.attempts if continuing else 0) + 1,
            record_id=continuing.id if continuing else None,
            wait_deadline=_deadline_for(status, context.wait_timeout),
            waiting_since=now if waits else None,
        )

    async def _run_step(self, step: Step, context: StepContext) -> tuple[StepStatus, str | None]:
        """One step, each attempt under its timeout; the chunk's heartbeat, a task of its own,
        beats on meanwhile."""
        attempt = 0
        while True:
            deadline = asyncio.timeout(step.timeout.total_seconds())
            try:
                async with deadline:
                    await step.run(context)
                return StepStatus.SUCCEEDED, None
            except SkipRecord as signal:
                return StepStatus.SKIPPED, str(signal) or None
            except WaitForAnswer as signal:
                context.payload = None
                context.wait_timeout = signal.timeout
                return StepStatus.WAITING, str(signal) or None
            except FailJob as signal:
                self.job_failure = str(signal) or f"step {step.name} failed the job"
                return StepStatus.FAILED, self.job_failure
            except asyncio.CancelledError:
                return StepStatus.INTERRUPTED, "interrupted by a force stop"
            except Exception as error:  # a step's own fault or its timeout: retried, then the record fails
                attempt += 1
                if attempt <= step.retries:
                    continue
                if deadline.expired():
                    message = f"timed out after {step.timeout.total_seconds():g} s"
                else:
                    message = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
                if step.fail_job:
                    self.job_failure = f"step {step.name} failed: {message}"
                return StepStatus.FAILED, message

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
            if added.failed:
                self.logs.extend(self._failure_lines(results))
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


def _deadline_for(status: RecordStatus, timeout: timedelta | None) -> Any:
    return utcnow() + timeout if status is RecordStatus.WAITING and timeout else None


_RECORD_STATUS = {
    StepStatus.FAILED: RecordStatus.FAILED,
    StepStatus.SKIPPED: RecordStatus.SKIPPED,
    StepStatus.WAITING: RecordStatus.WAITING,
    StepStatus.INTERRUPTED: RecordStatus.INTERRUPTED,
}
