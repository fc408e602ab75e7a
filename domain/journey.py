"""A record's journey: the timed steps it went through, stored compactly.

One stored entry per step run: ``[step_index, status, start_us, duration_us, detail, error]``
where ``start_us`` counts microseconds from the record's ``started_at`` and
``duration_us`` is None while the step runs or waits; trailing Nones are dropped.
A million records of three steps stay small, and ``decode`` gives readers full steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.statuses import StepStatus

Entry = list[Any]


def entry(
    step_index: int,
    status: StepStatus,
    start_us: int,
    duration_us: int | None = None,
    detail: Any = None,
    error: str | None = None,
) -> Entry:
    stored: Entry = [step_index, status.value, start_us, duration_us, detail, error]
    while stored[-1] is None:
        stored.pop()
    return stored


@dataclass(frozen=True)
class StepRun:
    name: str
    status: StepStatus
    started_at: datetime
    ended_at: datetime | None
    detail: Any
    error: str | None

    @property
    def duration_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


def decode(journey: Sequence[Entry], step_names: Sequence[str], record_started_at: datetime) -> list[StepRun]:
    runs = []
    for stored in journey:
        padded = list(stored) + [None] * (6 - len(stored))
        index, status, start_us, duration_us, detail, error = padded
        started_at = record_started_at + timedelta(microseconds=start_us)
        runs.append(
            StepRun(
                name=step_names[index] if index < len(step_names) else f"step {index}",
                status=StepStatus(status),
                started_at=started_at,
                ended_at=None if duration_us is None else started_at + timedelta(microseconds=duration_us),
                detail=detail,
                error=error,
            )
        )
    return runs
