"""A job's event history read back: what each event says, what a subscriber missed, and
what the relay has still to publish.

Every event a verb records is in ``job_event`` with the job's next ``seq`` and
its tenant's next ``tenant_seq``, committed with the change itself, so the table
is the gap-free truth the live streams are copied from. A tenant's events commit
in ``tenant_seq`` order (``domain.jobs._record_event``): once a reader sees one
number, it sees every lower one too, so "the tenant's events after n" is a
complete answer whenever it is asked. An event says the status before and
after, who caused it (``actor`` and ``actor_kind``), when, and in ``data`` the
operation that moved the job and the fields a change that is not a move set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.models import JobEvent, Tenant
from domain.statuses import EventKind, Operation

PAGE = 1000
OPERATION = "operation"


def operation_of(event: JobEvent) -> Operation | None:
    """The operator verb or the work's report that moved the job; None for what is not a move."""
    name = event.data.get(OPERATION)
    return None if name is None else Operation(name)


def changes_of(event: JobEvent) -> dict[str, Any]:
    """The job's fields the event set, with their new values (``low_priority``, ``hidden``)."""
    return {name: value for name, value in event.data.items() if name != OPERATION}


async def awaiting_relay(limit: int) -> list[JobEvent]:
    """The oldest events the relay has yet to publish, however late their transactions committed."""
    # ``= true`` written out, as the partial index says it: neither SQLite nor PostgreSQL's
    # generic plans use the index for a bound parameter they cannot see is true.
    return await JobEvent.raw(
        f"SELECT * FROM job_event WHERE awaiting_relay = true ORDER BY id LIMIT {int(limit)}"
    )


async def relayed(event_ids: Sequence[int]) -> None:
    await JobEvent.filter(id__in=list(event_ids)).update(awaiting_relay=None)


async def events_after(job_id: int, after_seq: int, through_seq: int | None = None) -> list[JobEvent]:
    """The job's events with ``after_seq < seq <= through_seq`` (all newer ones without a bound)."""
    events: list[JobEvent] = []
    while True:
        query = JobEvent.filter(job_id=job_id, seq__gt=after_seq)
        if through_seq is not None:
            query = query.filter(seq__lte=through_seq)
        page = await query.order_by("seq").limit(PAGE)
        events.extend(page)
        if len(page) < PAGE:
            return events
        after_seq = page[-1].seq


async def tenant_events_after(tenant_id: int, after_seq: int, through_seq: int | None = None) -> list[JobEvent]:
    """The tenant's events with ``after_seq < tenant_seq <= through_seq``, in order; at most ``PAGE``
    of them: ask again after the last one for more."""
    query = JobEvent.filter(tenant_id=tenant_id, tenant_seq__gt=after_seq)
    if through_seq is not None:
        query = query.filter(tenant_seq__lte=through_seq)
    return await query.order_by("tenant_seq").limit(PAGE)


async def tenant_event_seqs(tenant_ids: Sequence[int]) -> dict[int, int]:
    """Each tenant's last event number."""
    return dict(await Tenant.filter(id__in=list(tenant_ids)).values_list("id", "event_seq"))


async def hidden_at(job_ids: list[int]) -> dict[int, int]:
    """For these hidden jobs, the ``seq`` of the event that hid each last (an admin may have
    unhidden it before); jobs never hidden are missing."""
    if not job_ids:
        return {}
    rows = await JobEvent.filter(job_id__in=job_ids, kind=EventKind.HIDDEN.value).values_list("job_id", "seq")
    found: dict[int, int] = {}
    for job_id, seq in rows:
        found[job_id] = max(seq, found.get(job_id, seq))
    return found
