"""What ``jobUpdated`` and ``jobsChanged`` deliver: each job's events gap-free, in ``seq`` order.

Live events come from the tenant's Redis stream (``workers.streams``); the
database (``domain.history``) holds every event except progress. An event says
what it changed, who or what caused it and when, live or replayed alike. Per
job and subscriber a ``JobSequence`` remembers the last ``seq`` delivered and
keeps three rules:

* an event that is not PROGRESS is delivered exactly once: one at or below the
  last ``seq`` is a duplicate (the relay and a catch-up both had it) and is
  dropped;
* one that skips ahead (the relay was late, Redis lost it) is preceded by the
  missing events, read from the database;
* PROGRESS carries the job's current ``seq`` and may repeat it; it is delivered
  as it comes (it is how live screens move), but never ahead of an event it
  follows: if its ``seq`` is past the last delivered, the missing events are
  read from the database first.

A mailbox that overflowed, or lost Redis, catches up from the database too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any


from domain.access import Actor, ActorKind
from domain.clock import utcnow
from domain.errors import NotFound
from domain.history import changes_of, events_after, events_since, hidden_at, operation_of
from domain.jobs import visible_jobs
from domain.listing import JobListFilter, filtered_jobs
from domain.models import Job, JobEvent
from domain.statuses import EventKind, JobStatus, Operation
from gql.ids import from_global_id
from workers import keys
from workers.events import JobEventMessage
from workers.streams import JOB_EVENTS, Entry, StreamHub

# jobsChanged remembers this many jobs' last seq; a job forgotten and seen again
# starts over from its next live event.
REMEMBERED_JOBS = 10_000
# After a jobsChanged mailbox overflowed, events recorded this long before its
# last read are read back too: the relay may publish an event that late.
RELAY_SLACK = timedelta(seconds=30)
CATCH_UP_LIMIT = 10_000


@dataclass(frozen=True)
class JobEventItem:
    """One event of a job as subscribers deliver it: what changed, who or what caused it, when."""

    job_id: int
    seq: int
    kind: EventKind
    at: datetime
    status: JobStatus
    from_status: JobStatus | None
    operation: Operation | None
    actor_kind: ActorKind
    actor_name: str
    changes: dict[str, Any]
    # The stream entry it came from: every subscriber delivering it shares one read of the job.
    entry_id: str | None = None

    @classmethod
    def of_message(cls, message: JobEventMessage, entry_id: str) -> JobEventItem:
        return cls(
            job_id=message.job_id,
            seq=message.seq,
            kind=message.kind,
            at=datetime.fromisoformat(message.at),
            status=JobStatus(message.status),
            from_status=JobStatus(message.from_status) if message.from_status else None,
            operation=message.operation,
            actor_kind=message.actor_kind,
            actor_name=message.actor_name,
            changes=message.changes,
            entry_id=entry_id,
        )

    @classmethod
    def of_row(cls, event: JobEvent) -> JobEventItem:
        return cls(
            job_id=event.job_id,
            seq=event.seq,
            kind=EventKind(event.kind),
            at=event.at,
            status=JobStatus(event.to_status),
            from_status=JobStatus(event.from_status) if event.from_status else None,
            operation=operation_of(event),
            actor_kind=ActorKind(event.actor_kind),
            actor_name=event.actor,
            changes=changes_of(event),
        )


def _item_of(entry: Entry) -> JobEventItem:
    """Decoded once per stream entry, for every subscriber."""
    item = entry.memo.get("item")
    if item is None:
        item = entry.memo["item"] = JobEventItem.of_message(entry.message, entry.id)
    return item


class JobSequence:
    """One job's events for one subscriber, gap-free and never twice (see the module doc)."""

    def __init__(self, job_id: int, delivered: int) -> None:
        self.job_id = job_id
        self.delivered = delivered

    async def catch_up(self) -> list[JobEventItem]:
        """Every recorded event after the last delivered one."""
        return self._take(await events_after(self.job_id, self.delivered))

    async def accept(self, entry: Entry) -> list[JobEventItem]:
        message: JobEventMessage = entry.message
        if message.kind is EventKind.PROGRESS:
            missing = await self._fill(message.seq) if message.seq > self.delivered else []
            item = _item_of(entry)
            # A worker may report progress with the seq it started with: never let seq go back.
            return [*missing, item if item.seq >= self.delivered else replace(item, seq=self.delivered)]
        if message.seq <= self.delivered:
            return []
        if message.seq == self.delivered + 1:
            self.delivered = message.seq
            return [_item_of(entry)]
        return await self._fill(message.seq)

    async def _fill(self, through_seq: int) -> list[JobEventItem]:
        return self._take(await events_after(self.job_id, self.delivered, through_seq))

    def _take(self, rows: list[JobEvent]) -> list[JobEventItem]:
        if rows:
            self.delivered = max(self.delivered, rows[-1].seq)
        return [JobEventItem.of_row(row) for row in rows]


# ---------------------------------------------------------------- jobUpdated


async def job_updates(hub: StreamHub, job: Job, after_seq: int | None) -> AsyncIterator[list[JobEventItem]]:
    """``job``'s events: those after ``after_seq`` from the database first, then live ones."""
    mailbox = await hub.subscribe(
        {keys.tenant_events(job.tenant_id): JOB_EVENTS},
        accept=lambda message: message.job_id == job.id,
        prepare=read_states_ahead,
    )
    try:
        # Read after the mailbox exists: whatever the database does not hold yet arrives in it.
        current = await Job.get_or_none(id=job.id).values_list("seq", flat=True)
        if current is None:
            return
        sequence = JobSequence(job.id, current if after_seq is None else after_seq)
        if after_seq is not None and (missed := await sequence.catch_up()):
            yield missed
        while True:
            delivery = await mailbox.take()
            items = await sequence.catch_up() if delivery.lost_since else []
            for entry in delivery.entries:
                items.extend(await sequence.accept(entry))
            if items:
                yield latest_progress(items)
    finally:
        mailbox.close()


# ---------------------------------------------------------------- jobsChanged


@dataclass(frozen=True)
class JobsFilter:
    """A JobFilter applied to events: the job must match it, except that its status
    may match before or after the event (a live list sees a job enter and leave it),
    and a job's HIDDEN event is delivered to lists that do not show hidden jobs."""

    actor: Actor
    where: JobListFilter

    def check(self) -> None:
        """Refuse what the job list refuses (another tenant's id, a too-long search) now."""
        filtered_jobs(self.actor, self.where)

    def jobs(self) -> object:
        """The jobs that may have events to deliver, whatever their status or hidden flag."""
        return filtered_jobs(self.actor, replace(self.where, status=None, include_hidden=True))

    def passes(self, item: JobEventItem, hidden_at: int | None) -> bool:
        """``hidden_at``: the seq of the event that hid the job, if one did."""
        statuses = self.where.status
        if statuses and item.status not in statuses and item.from_status not in statuses:
            return False
        hidden = hidden_at is not None and item.seq >= hidden_at
        return not hidden or self.where.include_hidden or item.kind is EventKind.HIDDEN

    async def tenants(self) -> list[int]:
        if self.where.tenant_id is not None:
            return [self.where.tenant_id]
        if not self.actor.is_platform:
            return [self.actor.tenant_id]
        from domain.models import Tenant

        return list(await Tenant.all().values_list("id", flat=True))


async def jobs_changed(hub: StreamHub, where: JobsFilter) -> AsyncIterator[list[JobEventItem]]:
    """Events of every job ``where`` lets through, as they happen.

    A job first seen live that was created after the subscription starts from
    its first event; an older one from the event seen. The catch-up after an
    overflow reads back every matching job's events since the last read.
    """
    mailbox = await hub.subscribe(
        dict.fromkeys(map(keys.tenant_events, await where.tenants()), JOB_EVENTS), prepare=read_states_ahead
    )
    started = utcnow()
    sequences: OrderedDict[int, JobSequence] = OrderedDict()

    def sequence_of(job_id: int, created_at: datetime, first_seq: int) -> JobSequence:
        """``first_seq``: the first event of the job this subscriber sees."""
        sequence = sequences.get(job_id)
        if sequence is None:
            sequence = JobSequence(job_id, 0 if created_at >= started else first_seq - 1)
            sequences[job_id] = sequence
            while len(sequences) > REMEMBERED_JOBS:
                sequences.popitem(last=False)
        sequences.move_to_end(job_id)
        return sequence

    try:
        while True:
            delivery = await mailbox.take()
            # The first missed event of each job, when the mailbox lost some.
            missed: dict[int, int] = {}
            if delivery.lost_since:
                since = max(started, delivery.lost_since - RELAY_SLACK)
                for event in await events_since(where.jobs(), since, CATCH_UP_LIMIT):
                    missed.setdefault(event.job_id, event.seq)
            job_ids = set(missed) | {entry.message.job_id for entry in delivery.entries}
            if not job_ids:
                continue
            rows = await where.jobs().filter(id__in=list(job_ids)).values_list("id", "hidden", "created_at")
            # Events from before a job was hidden are shown: it was listed when they happened.
            hidden = await hidden_at([job_id for job_id, is_hidden, _ in rows if is_hidden])
            known = {job_id: (hidden.get(job_id), created_at) for job_id, _, created_at in rows}
            items: list[JobEventItem] = []
            for job_id, first_seq in missed.items():
                if job_id in known:
                    hidden_from, created_at = known[job_id]
                    sequence = sequence_of(job_id, created_at, first_seq)
                    items.extend(_passing(where, await sequence.catch_up(), hidden_from))
            for entry in delivery.entries:
                message: JobEventMessage = entry.message
                if message.job_id not in known:
                    continue
                hidden_from, created_at = known[message.job_id]
                first_seq = message.seq + 1 if message.kind is EventKind.PROGRESS else message.seq
                sequence = sequence_of(message.job_id, created_at, first_seq)
                items.extend(_passing(where, await sequence.accept(entry), hidden_from))
            if items:
                yield latest_progress(items)
    finally:
        mailbox.close()


def latest_progress(items: list[JobEventItem]) -> list[JobEventItem]:
    """A subscriber that fell behind gets a job's newest progress only: older figures are stale."""
    if sum(1 for item in items if item.kind is EventKind.PROGRESS) < 2:
        return items
    newest = {item.job_id: index for index, item in enumerate(items) if item.kind is EventKind.PROGRESS}
    return [
        item for index, item in enumerate(items)
        if item.kind is not EventKind.PROGRESS or newest[item.job_id] == index
    ]


def _passing(where: JobsFilter, items: Iterable[JobEventItem], hidden_at: int | None) -> list[JobEventItem]:
    return [item for item in items if where.passes(item, hidden_at)]


# ---------------------------------------------------------------- the job as of delivery


@dataclass(frozen=True)
class JobState:
    job: Job | None
    # The stream entry it was read for, when it is shared by every subscriber delivering that entry.
    as_of: str | None = None


async def job_states(hub: StreamHub, items: Sequence[JobEventItem]) -> dict[int, JobState]:
    """The jobs of ``items`` as of now, as a pull refresh reads them.

    A job whose newest item came live is read once per process for that stream
    entry, however many subscribers deliver it; the others (replays) are read here.
    """
    if len(items) == 1 and items[0].entry_id is not None:  # the usual live event
        key = (items[0].job_id, items[0].entry_id)
        return {key[0]: (await hub.shared.get_many([key], _read_shared))[key]}
    newest: dict[int, str | None] = {}
    for item in items:
        if item.entry_id is not None or item.job_id not in newest:
            newest[item.job_id] = item.entry_id
    replayed = sorted(job_id for job_id, entry in newest.items() if entry is None)
    states = await _read_states(replayed) if replayed else {}
    live = [(job_id, entry) for job_id, entry in newest.items() if entry is not None]
    if live:
        shared = await hub.shared.get_many(live, _read_shared)
        states.update({job_id: state for (job_id, _), state in shared.items()})
    return states


async def read_states_ahead(hub: StreamHub, entries: list[Entry]) -> None:
    """The jobs of live entries, read before their subscribers wake: each then finds its
    ``job_states`` done, instead of all of them waking twice, once to ask and once to get it."""
    await hub.shared.get_many(
        [(entry.message.job_id, entry.id) for entry in entries], _read_shared
    )


async def _read_shared(keys: list[tuple[int, str]]) -> dict[tuple[int, str], JobState]:
    found = await _read_states(sorted({job_id for job_id, _ in keys}))
    return {(job_id, entry): replace(found[job_id], as_of=entry) for job_id, entry in keys}


async def _read_states(job_ids: list[int]) -> dict[int, JobState]:
    if not job_ids:
        return {}
    jobs = {job.id: job for job in await Job.filter(id__in=job_ids)}
    return {job_id: JobState(jobs.get(job_id)) for job_id in job_ids}


async def subscribed_job(actor: Actor, id: str) -> Job:
    """The job behind a subscription's id; another tenant's job, a system job a non-admin
    may not see and a malformed id answer exactly as a job that does not exist."""
    try:
        job = await visible_jobs(actor).get_or_none(id=from_global_id(id, "Job"))
    except NotFound:
        job = None
    if job is None:
        raise NotFound("job", id)
    return job
