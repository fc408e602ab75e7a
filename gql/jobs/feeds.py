"""What ``jobUpdated`` and ``jobsChanged`` deliver: events gap-free, in order, none twice.

Live events come from the tenant's Redis stream (``workers.streams``); the
database (``domain.history``) holds every event except progress. An event says
what it changed, who or what caused it and when, live or replayed alike.

``jobUpdated`` follows one job by its ``seq``; ``jobsChanged`` follows tenants
by their ``tenant_seq`` (a ``JobSequence`` or a ``TenantSequence`` per
subscriber). Each remembers the last number delivered and keeps three rules:

* an event that is not PROGRESS is delivered exactly once: one at or below the
  last number is a duplicate (the relay and a catch-up both had it) and is
  dropped;
* one that skips ahead (the relay was late, Redis lost it) is preceded by the
  missing events, read from the database;
* PROGRESS carries the job's current ``seq`` and may repeat it; it is delivered
  as it comes (it is how live screens move), but never ahead of an event it
  follows: if its ``seq`` is past the job's last delivered one, the missing
  events are read from the database first. On ``jobsChanged`` it carries the
  tenant's last delivered ``tenant_seq``.

A mailbox that overflowed, or lost Redis, catches up from the database too.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.access import Actor, ActorKind
from domain.errors import InvalidInput, NotFound
from domain.history import (
    changes_of,
    events_after,
    hidden_at,
    operation_of,
    tenant_event_seqs,
    tenant_events_after,
)
from domain.jobs import visible_jobs
from domain.listing import JobListFilter, filtered_jobs
from domain.models import Job, JobEvent, Tenant
from domain.statuses import EventKind, JobStatus, Operation
from gql.ids import from_global_id
from workers import keys
from workers.events import JobEventMessage
from workers.streams import JOB_EVENTS, Entry, StreamHub

# jobsChanged remembers this many jobs' last seq, to keep their progress behind their
# events; a job forgotten and seen again is taken as it comes.
REMEMBERED_JOBS = 10_000
# How far back jobsChanged(afterSeq) replays a tenant's events; a client further behind
# queries the jobs again and subscribes afresh.
MAX_REPLAY = 100_000


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
    # The tenant's event number; on jobsChanged's PROGRESS, the last one delivered; else None.
    tenant_seq: int | None = None
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
            tenant_seq=message.tenant_seq,
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
            tenant_seq=event.tenant_seq,
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

    def in_order(self, entries: list[Entry]) -> tuple[list[JobEventItem], int] | None:
        """What ``accept`` would deliver for ``entries`` and the seq delivered after them, when
        none of them needs the database (no gap, no progress behind); delivering is the caller's."""
        delivered = self.delivered
        items = []
        for entry in entries:
            message: JobEventMessage = entry.message
            if message.kind is EventKind.PROGRESS:
                if message.seq != delivered:
                    return None
            elif message.seq == delivered + 1:
                delivered = message.seq
            elif message.seq <= delivered:
                continue
            else:
                return None
            items.append(_item_of(entry))
        return items, delivered

    async def _fill(self, through_seq: int) -> list[JobEventItem]:
        return self._take(await events_after(self.job_id, self.delivered, through_seq))

    def _take(self, rows: list[JobEvent]) -> list[JobEventItem]:
        if rows:
            self.delivered = max(self.delivered, rows[-1].seq)
        return [JobEventItem.of_row(row) for row in rows]


# ---------------------------------------------------------------- jobUpdated


# Sends live items at once, in the stream hub's turn; False (having sent nothing) when it cannot.
SendNow = Callable[[list[JobEventItem]], bool]


async def job_updates(
    hub: StreamHub, job: Job, after_seq: int | None, send_now: SendNow | None = None
) -> AsyncIterator[list[JobEventItem]]:
    """``job``'s events: those after ``after_seq`` from the database first, then live ones.

    While the subscriber waits, live events that follow the last delivered one are given to
    ``send_now`` as they are handed out; only the others are yielded.
    """
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

        def offer(entries: list[Entry]) -> bool:
            taken = sequence.in_order(entries)
            if taken is None or (taken[0] and not send_now(latest_progress(taken[0]))):
                return False
            sequence.delivered = taken[1]
            return True

        while True:
            delivery = await mailbox.take(offer if send_now is not None else None)
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
        return list(await Tenant.all().values_list("id", flat=True))


async def check_resumable(where: JobsFilter, after_seq: int | None) -> None:
    """Refuse an ``afterSeq`` that names no event of the one tenant it counts in, or one too far back."""
    if after_seq is None:
        return
    tenants = await where.tenants()
    if len(tenants) != 1:
        raise InvalidInput("afterSeq", "counts the events of one tenant: give filter.tenantId too")
    last = (await tenant_event_seqs(tenants)).get(tenants[0], 0)
    if not max(0, last - MAX_REPLAY) <= after_seq <= last:
        raise InvalidInput(
            "afterSeq", f"must be between {max(0, last - MAX_REPLAY)} and the tenant's last tenantSeq ({last});"
            " further back, query the jobs again and subscribe without it"
        )


class TenantSequence:
    """One tenant's events for one subscriber, by ``tenant_seq``, gap-free and never twice
    (see the module doc). Events the filter does not show move it on too."""

    def __init__(self, tenant_id: int, delivered: int) -> None:
        self.tenant_id = tenant_id
        self.delivered = delivered
        self._job_seqs: OrderedDict[int, int] = OrderedDict()

    async def catch_up(self) -> list[JobEventItem]:
        """The next page of recorded events after the last delivered one; empty once there is none."""
        return self._take(await tenant_events_after(self.tenant_id, self.delivered))

    async def accept(self, entry: Entry) -> list[JobEventItem]:
        message: JobEventMessage = entry.message
        if message.kind is EventKind.PROGRESS:
            known = self._job_seqs.get(message.job_id)
            missing = await self._fill() if known is not None and message.seq > known else []
            item = _item_of(entry)
            seq = max(item.seq, self._job_seqs.get(message.job_id, item.seq))
            self._saw(message.job_id, seq)
            return [*missing, replace(item, seq=seq, tenant_seq=self.delivered)]
        if message.tenant_seq is None:  # published by a relay older than the numbering
            return await self._fill()
        if message.tenant_seq <= self.delivered:
            return []
        if message.tenant_seq == self.delivered + 1:
            self.delivered = message.tenant_seq
            self._saw(message.job_id, message.seq)
            return [_item_of(entry)]
        return await self._fill(message.tenant_seq)

    async def _fill(self, through_seq: int | None = None) -> list[JobEventItem]:
        """Every recorded event after the last delivered one, through ``through_seq`` if given."""
        items: list[JobEventItem] = []
        while page := self._take(await tenant_events_after(self.tenant_id, self.delivered, through_seq)):
            items.extend(page)
        if through_seq is not None:
            # The event published as ``through_seq`` committed after every lower one: the
            # numbers missing below it are pruned jobs', for good.
            self.delivered = max(self.delivered, through_seq)
        return items

    def _take(self, rows: list[JobEvent]) -> list[JobEventItem]:
        for row in rows:
            self._saw(row.job_id, row.seq)
        if rows:
            self.delivered = max(self.delivered, rows[-1].tenant_seq)
        return [JobEventItem.of_row(row) for row in rows]

    def _saw(self, job_id: int, seq: int) -> None:
        self._job_seqs[job_id] = max(seq, self._job_seqs.get(job_id, seq))
        self._job_seqs.move_to_end(job_id)
        while len(self._job_seqs) > REMEMBERED_JOBS:
            self._job_seqs.popitem(last=False)


async def jobs_changed(
    hub: StreamHub, where: JobsFilter, after_seq: int | None = None
) -> AsyncIterator[list[JobEventItem]]:
    """Events of every job ``where`` lets through: with ``after_seq`` (``check_resumable``), the
    tenant's recorded events after it first, then live ones; without, from now on."""
    tenants = await where.tenants()
    mailbox = await hub.subscribe(
        dict.fromkeys(map(keys.tenant_events, tenants), JOB_EVENTS), prepare=read_states_ahead
    )
    try:
        # Read after the mailbox exists: whatever is recorded later is in it, or in the database.
        last = await tenant_event_seqs(tenants)
        sequences = {
            tenant: TenantSequence(tenant, last.get(tenant, 0) if after_seq is None else after_seq)
            for tenant in tenants
        }
        if after_seq is not None:
            async for items in _caught_up(where, sequences.values()):
                yield items
        while True:
            delivery = await mailbox.take()
            if delivery.lost_since:
                async for items in _caught_up(where, sequences.values()):
                    yield items
            items = []
            for entry in delivery.entries:
                items.extend(await sequences[entry.message.tenant_id].accept(entry))
            if passing := await _passing(where, items):
                yield latest_progress(passing)
    finally:
        mailbox.close()


async def _caught_up(where: JobsFilter, sequences: Iterable[TenantSequence]) -> AsyncIterator[list[JobEventItem]]:
    """Every recorded event the sequences have not delivered yet, a page at a time."""
    for sequence in sequences:
        while page := await sequence.catch_up():
            if passing := await _passing(where, page):
                yield passing


def latest_progress(items: list[JobEventItem]) -> list[JobEventItem]:
    """A subscriber that fell behind gets a job's newest progress only: older figures are stale."""
    if len(items) < 2 or sum(1 for item in items if item.kind is EventKind.PROGRESS) < 2:
        return items
    newest = {item.job_id: index for index, item in enumerate(items) if item.kind is EventKind.PROGRESS}
    return [
        item for index, item in enumerate(items)
        if item.kind is not EventKind.PROGRESS or newest[item.job_id] == index
    ]


async def _passing(where: JobsFilter, items: list[JobEventItem]) -> list[JobEventItem]:
    """The items of the jobs ``where`` lets through, as it lets them."""
    if not items:
        return []
    rows = await where.jobs().filter(id__in=list({item.job_id for item in items})).values_list("id", "hidden")
    # Events from before a job was hidden are shown: it was listed when they happened.
    hidden = await hidden_at([job_id for job_id, is_hidden in rows if is_hidden])
    shown = {job_id for job_id, _ in rows}
    return [item for item in items if item.job_id in shown and where.passes(item, hidden.get(item.job_id))]


# ---------------------------------------------------------------- the job as of delivery

# Reads of jobs, numbered as they begin: one that begins later sees at least what an
# earlier one saw, so a higher number is a job as of later.
_reads = itertools.count()


@dataclass(frozen=True)
class JobState:
    job: Job | None
    # Its read's number (``_reads``).
    read: int
    # The stream entry it was read for, when it is shared by every subscriber delivering that entry.
    as_of: str | None = None


class DeliveredJobs:
    """The jobs one subscriber's events carry, as of their delivery, as a pull refresh reads them.

    A live event's job is read when the event arrives, once per process for every
    subscriber (``read_states_ahead``); a replayed one's when it is replayed. Events
    that arrive while a subscriber replays wait for the replay, and theirs were read
    before it: delivered as read, the job would go back to fewer records done, or an
    older seq. So a job is never shown as read before the last read of it the
    subscriber showed: it is read again.
    """

    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub
        # Per job: the number of the read last shown (bounded like TenantSequence's seqs).
        self._shown: OrderedDict[int, int] = OrderedDict()

    async def states(self, items: Sequence[JobEventItem]) -> dict[int, JobState]:
        states = await _states_of(self.hub, items)
        older = sorted(job_id for job_id, state in states.items() if state.read < self._shown.get(job_id, -1))
        if older:
            states.update(await _read_states(older))
        self._show(states)
        return states

    def states_read(self, items: Sequence[JobEventItem]) -> dict[int, JobState] | None:
        """What ``states`` answers for live ``items`` if the process read it already (read
        ahead for their entries), without waiting; None if it did not, or if a job would
        go back from what this subscriber showed."""
        states = {}
        for item in items:
            if item.entry_id is None:
                return None
            loaded, state = self.hub.shared.loaded((item.job_id, item.entry_id))
            if not loaded or state.read < self._shown.get(item.job_id, -1):
                return None
            states[item.job_id] = state
        self._show(states)
        return states

    def _show(self, states: dict[int, JobState]) -> None:
        for job_id, state in states.items():
            self._shown[job_id] = state.read
            self._shown.move_to_end(job_id)
        while len(self._shown) > REMEMBERED_JOBS:
            self._shown.popitem(last=False)


async def _states_of(hub: StreamHub, items: Sequence[JobEventItem]) -> dict[int, JobState]:
    """The jobs of ``items`` as of now. A job whose newest item came live is read once per
    process for that stream entry, however many subscribers deliver it; the others
    (replays) are read here."""
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
    states read, instead of all of them waking twice, once to ask and once to get it."""
    await hub.shared.get_many(
        [(entry.message.job_id, entry.id) for entry in entries], _read_shared
    )


async def _read_shared(keys: list[tuple[int, str]]) -> dict[tuple[int, str], JobState]:
    found = await _read_states(sorted({job_id for job_id, _ in keys}))
    return {(job_id, entry): replace(found[job_id], as_of=entry) for job_id, entry in keys}


async def _read_states(job_ids: list[int]) -> dict[int, JobState]:
    if not job_ids:
        return {}
    read = next(_reads)
    jobs = {job.id: job for job in await Job.filter(id__in=job_ids)}
    return {job_id: JobState(jobs.get(job_id), read) for job_id in job_ids}


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
