"""The one payload that travels on a tenant's event stream, and its serialization."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from domain.statuses import EventKind


@dataclass(frozen=True)
class JobEventMessage:
    """Something happened to a job: a status change, or coalesced progress.

    ``seq`` is the job's event sequence number at the time: a status change
    carries its own, progress carries the latest. Readers compute the progress
    figures themselves, from the same sources a pull refresh uses.
    """

    job_id: int
    tenant_id: int
    seq: int
    kind: EventKind
    status: str
    at: str

    def encode(self) -> dict[str, str]:
        return {"event": json.dumps({**asdict(self), "kind": self.kind.value}, separators=(",", ":"))}

    @classmethod
    def decode(cls, fields: dict[Any, Any]) -> JobEventMessage:
        raw = fields.get(b"event") or fields.get("event")
        data = json.loads(raw)
        data["kind"] = EventKind(data["kind"])
        return cls(**data)
