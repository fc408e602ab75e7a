"""The payloads that travel on Redis streams, and their serialization: a tenant's job events,
a job's log flushes, and a bulk operation's advances."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields as dataclass_fields
from typing import Any

from domain.access import ActorKind
from domain.history import changes_of, operation_of
from domain.models import JobEvent
from domain.statuses import EventKind, Operation


@dataclass(frozen=True)
class JobEventMessage:
    """Something happened to a job: a recorded event, or coalesced progress.

    ``seq`` is the job's event sequence number at the time: a recorded event
    carries its own, progress carries the latest. A recorded event also carries
    its ``tenant_seq``; progress has none. Readers compute the progress
    figures themselves, from the same sources a pull refresh uses.
    ``from_status`` is the status before the event (None on progress), so a
    reader filtering by status also sees a job leave its filter. A recorded
    event also says who caused it, the operation that moved the job and the
    fields a change that is not a move set (``domain.history``); progress is
    always a worker's report, hence the defaults.
    """

    job_id: int
    tenant_id: int
    seq: int
    kind: EventKind
    status: str
    at: str
    from_status: str | None = None
    operation: Operation | None = None
    actor_kind: ActorKind = ActorKind.WORKER
    actor_name: str = "worker"
    changes: dict[str, Any] = field(default_factory=dict)
    tenant_seq: int | None = None

    @classmethod
    def of_event(cls, event: JobEvent, tenant_id: int) -> JobEventMessage:
        """What the relay publishes for a recorded event."""
        return cls(
            job_id=event.job_id,
            tenant_id=tenant_id,
            seq=event.seq,
            kind=EventKind(event.kind),
            status=event.to_status.value,
            at=event.at.isoformat(),
            from_status=None if event.from_status is None else event.from_status.value,
            operation=operation_of(event),
            actor_kind=ActorKind(event.actor_kind),
            actor_name=event.actor,
            changes=changes_of(event),
            tenant_seq=event.tenant_seq,
        )

    def encode(self) -> dict[str, str]:
        return {"event": json.dumps(asdict(self), separators=(",", ":"))}

    @classmethod
    def decode(cls, fields: dict[Any, Any]) -> JobEventMessage:
        data = json.loads(_field(fields, "event"))
        data["kind"] = EventKind(data["kind"])
        if data.get("operation") is not None:
            data["operation"] = Operation(data["operation"])
        if "actor_kind" in data:
            data["actor_kind"] = ActorKind(data["actor_kind"])
        # Fields a newer writer added are ignored, so processes upgrade one at a time.
        return cls(**{name: data[name] for name in _EVENT_FIELDS if name in data})


_EVENT_FIELDS = tuple(field.name for field in dataclass_fields(JobEventMessage))


@dataclass(frozen=True)
class LogsWritten:
    """A flush wrote log lines of these ``levels`` for a job: look again.

    One entry per flush, not per line: subscribers read the lines themselves,
    from the database, after the last one they delivered. The levels let a
    subscriber that shows only some of them sleep through the others.
    """

    job_id: int
    levels: frozenset[str]

    def encode(self) -> dict[str, str]:
        return {"job": str(self.job_id), "levels": ",".join(sorted(self.levels))}

    @classmethod
    def decode(cls, fields: dict[Any, Any]) -> LogsWritten:
        levels = _field(fields, "levels")
        return cls(job_id=int(_field(fields, "job")), levels=frozenset(levels.split(",")) if levels else frozenset())


@dataclass(frozen=True)
class BulkOperationAdvanced:
    """A bulk operation changed (its counters or its status ``status``): look again.

    Subscribers read the operation from the database; the status lets one that ended
    go out at once instead of waiting to be coalesced with later prompts.
    """

    operation_id: int
    status: str

    def encode(self) -> dict[str, str]:
        return {"operation": str(self.operation_id), "status": self.status}

    @classmethod
    def decode(cls, fields: dict[Any, Any]) -> BulkOperationAdvanced:
        return cls(operation_id=int(_field(fields, "operation")), status=_field(fields, "status"))


def _field(fields: dict[Any, Any], name: str) -> str:
    """A field of a stream entry, whether the client decodes responses or not."""
    raw = fields.get(name.encode(), fields.get(name))
    return raw.decode() if isinstance(raw, bytes) else raw
