"""``jobLogs``: a job's new log lines as they are written, from a minimum level up.

The lines are read from the database, the same rows the ``logs`` connection
pages through. Redis only says when to look: a worker adds one entry to the
job's log stream per flush, naming the levels it wrote, and a subscriber wakes
only for a flush with lines it shows. The verbs that log without a worker (a
force stop, a failed enumeration) also record a job event, so the job's events
on the tenant's stream wake the subscriber too; its progress does not.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

import strawberry

from domain.logs import LogLevel, at_least, last_line_id, lines_after
from domain.models import Job, JobLog
from domain.statuses import EventKind
from gql.context import Info
from gql.jobs.feeds import subscribed_job
from gql.jobs.types import LogEntryNode, log_entries
from gql.logs.selection import selects
from workers import keys
from workers.events import JobEventMessage, LogsWritten
from workers.streams import JOB_EVENTS, LOG_FLUSHES, Mailbox, StreamHub

PAGE = 500
# Concurrent writers may commit log ids out of order (PostgreSQL sequences): a
# line delivered less than this long ago is not yet past the checkpoint, so a
# smaller id committed a little later is still found.
SETTLE_SECONDS = 2.0


class LogTail:
    """The lines of one job above a checkpoint, each delivered once."""

    def __init__(self, job: Job, levels: Sequence[LogLevel], after_id: int) -> None:
        self.job = job
        self.levels = levels
        self.checkpoint = after_id
        self._recent: dict[int, float] = {}  # id -> when delivered, for ids above the checkpoint

    async def new_lines(self) -> list[JobLog]:
        now = time.monotonic()
        fresh: list[JobLog] = []
        after = self.checkpoint
        while True:
            page = await lines_after(self.job, after, self.levels, PAGE)
            fresh.extend(line for line in page if line.id not in self._recent)
            if len(page) < PAGE:
                break
            after = page[-1].id
        for line in fresh:
            self._recent[line.id] = now
        settled = [line_id for line_id, at in self._recent.items() if now - at >= SETTLE_SECONDS]
        if settled:
            self.checkpoint = max(self.checkpoint, *settled)
            self._recent = {line_id: at for line_id, at in self._recent.items() if line_id > self.checkpoint}
        return fresh


async def log_wake_ups(hub: StreamHub, job: Job, levels: Sequence[LogLevel]) -> Mailbox:
    """A mailbox for what may have written lines of ``job`` at ``levels``: the job's flushes
    with lines of those levels, and its events that are not progress."""
    shown = {level.value for level in levels}

    def wakes(message: LogsWritten | JobEventMessage) -> bool:
        if isinstance(message, LogsWritten):
            return not shown.isdisjoint(message.levels)
        return message.job_id == job.id and message.kind is not EventKind.PROGRESS

    return await hub.subscribe(
        {keys.job_logs(job.id): LOG_FLUSHES, keys.tenant_events(job.tenant_id): JOB_EVENTS}, accept=wakes
    )


async def log_lines(hub: StreamHub, job: Job, levels: Sequence[LogLevel]) -> AsyncIterator[list[JobLog]]:
    mailbox = await log_wake_ups(hub, job, levels)
    try:
        # Only what is written from now on: the mailbox exists, so nothing after this is missed.
        tail = LogTail(job, levels, await last_line_id(job))
        while True:
            await mailbox.take()
            if lines := await tail.new_lines():
                yield lines
    finally:
        mailbox.close()


@strawberry.type
class LogSubscriptions:
    @strawberry.subscription(
        description="The job's log lines written from now on, oldest first; level is the minimum level shown."
    )
    async def job_logs(
        self, info: Info, job_id: strawberry.ID, level: LogLevel | None = None
    ) -> AsyncGenerator[LogEntryNode, None]:
        context = info.context
        job = await subscribed_job(context.viewer, job_id)
        with_records = selects(info, "record")
        async for lines in log_lines(context.streams, job, at_least(level)):
            # Each line is an answer of its own: the records of a flush are read for all its lines.
            context.refresh()
            for entry in await log_entries(info, lines, with_records):
                yield entry
