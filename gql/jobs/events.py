"""A job's events as the API shows them: what changed, who or what caused it, and when.

The same type is a job's ``history`` and what ``jobUpdated`` and ``jobsChanged``
deliver, replayed or live.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.utils.str_converters import to_camel_case

from domain.access import ActorKind
from domain.models import JobEvent
from domain.statuses import EventKind, JobStatus, Operation
from gql.jobs.feeds import JobEventItem
from gql.scalars import JSON, BigInt

if TYPE_CHECKING:
    from gql.jobs.types import JobNode


@strawberry.type(name="JobEventActor")
class JobEventActor:
    kind: ActorKind
    name: str = strawberry.field(description="The principal's name, or the part of the platform.")


@strawberry.type(name="JobFieldChange")
class JobFieldChange:
    field: str = strawberry.field(description="The job's field, as the Job type names it.")
    value: JSON = strawberry.field(description="Its value after the event.")


@strawberry.type(name="JobEvent")
class JobEventNode:
    # Subscribers delivering the same live event with the same job state share one
    # execution of the same document (gql.fanout).
    share_key: strawberry.Private[Hashable | None]
    seq: BigInt = strawberry.field(
        description="The job's event number: gap-free per job; PROGRESS repeats the latest one."
    )
    tenant_seq: BigInt | None = strawberry.field(
        description="The tenant's event number: increasing in the order the tenant's events happened "
        "(a pruned job leaves a gap); jobsChanged(afterSeq) resumes after it. PROGRESS on jobsChanged "
        "repeats the last one delivered; null on jobUpdated's PROGRESS."
    )
    kind: EventKind
    at: datetime = strawberry.field(description="When it happened.")
    from_status: JobStatus | None = strawberry.field(
        description="The status before the event; null when the job was created, and on PROGRESS."
    )
    to_status: JobStatus = strawberry.field(description="The status after the event.")
    operation: Operation | None = strawberry.field(
        description="What moved the job: an operator's request or what its work reported; "
        "null for the events that are not a move."
    )
    actor: JobEventActor = strawberry.field(description="Who or what caused the event.")
    changes: list[JobFieldChange] = strawberry.field(
        description="The fields an event that is not a move set (lowPriority, hidden)."
    )
    job: Annotated[JobNode, strawberry.lazy("gql.jobs.types")] = strawberry.field(
        description="The job as of this answer, as a refresh would show it."
    )

    @classmethod
    def of(cls, item: JobEventItem, job: JobNode, share_key: Hashable | None = None) -> JobEventNode:
        return cls(
            share_key=share_key,
            seq=item.seq,
            tenant_seq=item.tenant_seq,
            kind=item.kind,
            at=item.at,
            from_status=item.from_status,
            to_status=item.status,
            operation=item.operation,
            actor=JobEventActor(kind=item.actor_kind, name=item.actor_name),
            changes=[JobFieldChange(field=to_camel_case(name), value=value) for name, value in item.changes.items()],
            job=job,
        )

    @classmethod
    def of_event(cls, event: JobEvent, job: JobNode) -> JobEventNode:
        """A recorded event of ``job``, from its history."""
        return cls.of(JobEventItem.of_row(event), job)
