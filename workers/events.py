"""The one payload that travels on a tenant's event stream, and its serialization."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields as dataclass_fields
from typing import Any

from domain.statuses import EventKind


@dataclass(frozen=True)
class JobEventMessage:
    """Something happened to a job: a status change, or coalesced progress.

    ``seq`` is the job's event sequence number at the time: a status change
    carries its own, progress carries the latest. Readers compute the progress
    figures themselves, from the same sources a pull refresh uses.
    ``from_status`` is the status before the event (None on progress), so a
    reader filtering by status also sees a job leave its filter.
    """

    job_id: int
    tenant_id: int
    seq: int
    kind: EventKind
    status: str
    at: str
    from_status: str | None = None

    def encode(self) -> dict[str, str]:
        return {"event": json.dumps({**asdict(self), "kind": self.kind.value}, separators=(",", ":"))}

    @classmethod
    def decode(cls, fields: dict[Any, Any]) -> JobEventMessage:
        raw = fields.get(b"event") or fields.get("event")
        data = json.loads(raw)
        data["kind"] = EventKind(data["kind"])
        # Fields a newer writer added are ignored, so processes upgrade one at a time.
        return cls(**{name: data[name] for name in _FIELDS if name in data})


_FIELDS = tuple(field.name for field in dataclass_fields(JobEventMessage))
