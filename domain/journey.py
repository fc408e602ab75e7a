"""A record's journey: the timed steps it went through, stored compactly.

One stored entry per step run: ``[step_index, status, start_us, duration_us, detail, error]``
where ``start_us`` counts microseconds from the record's ``started_at`` and
``duration_us`` is None while the step runs or waits; trailing Nones are dropped.
A million records of three steps stay small, and ``decode`` gives readers full steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from domain.statuses import StepStatus

Entry = list[Any]
T = TypeVar("T")


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


class StepRun(NamedTuple):
    # A tuple, not a frozen dataclass: a console page decodes 30,000 of them.
    name: str
    status: StepStatus
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None
    detail: Any
    error: str | None


_STATUSES = {status.value: status for status in StepStatus}
# Multiplied, it makes a timedelta several times faster than timedelta(microseconds=...).
_MICROSECOND = timedelta(microseconds=1)


def decode(
    journey: Sequence[Entry],
    step_names: Sequence[str],
    record_started_at: datetime,
    step: Callable[..., T] = StepRun,  # type: ignore[assignment]
) -> list[T]:
    """The steps of a journey, each built by ``step`` from StepRun's fields by name: a reader
    with a type of its own (the API's Step) builds it directly, without a StepRun per step."""
    runs = []
    known = len(step_names)
    for stored in journey:
        index, status, start_us = stored[0], stored[1], stored[2]
        size = len(stored)
        duration_us = stored[3] if size > 3 else None
        started_at = record_started_at + _MICROSECOND * start_us
        took = None if duration_us is None else _MICROSECOND * duration_us
        runs.append(
            step(
                name=step_names[index] if index < known else f"step {index}",
                status=_STATUSES.get(status) or StepStatus(status),
                started_at=started_at,
                ended_at=None if took is None else started_at + took,
                duration_seconds=None if took is None else took.total_seconds(),
                detail=stored[4] if size > 4 else None,
                error=stored[5] if size > 5 else None,
            )
        )
    return runs
