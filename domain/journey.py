"""A record's journey: the timed steps it went through, stored compactly.

One stored entry per step:
``[step_index, status, start_us, duration_us, detail, error, waited_us, answered_by]``
where ``start_us`` counts microseconds from the record's ``started_at``; trailing
Nones are dropped. A million records of three steps stay small, and ``decode``
gives readers full steps.

A step that waits for an answer keeps one entry across its wait. While it waits,
``duration_us`` is how long it ran before it asked, and ``answered_by`` who
answered once someone did (``answered``). When it has run again (``continued``),
the entry spans the whole step: ``duration_us`` from its first start to its end,
``waited_us`` the part of it spent between asking and running again.
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
    waited_us: int | None = None,
    answered_by: str | None = None,
) -> Entry:
    stored: Entry = [step_index, status.value, start_us, duration_us, detail, error, waited_us, answered_by]
    while stored[-1] is None:
        stored.pop()
    return stored


_SLOTS = 8


def _slots(stored: Entry) -> list[Any]:
    """All the slots of a stored entry, the dropped trailing ones None again."""
    return [*stored, *[None] * (_SLOTS - len(stored))]


def waiting_step(journey: Sequence[Entry]) -> int | None:
    """The index of the step the record waits in, if it waits."""
    if journey and journey[-1][1] == StepStatus.WAITING.value:
        return journey[-1][0]
    return None


def answered(journey: Sequence[Entry], by: str) -> list[Entry]:
    """The journey of a waiting record once ``by`` answered it."""
    *before, waiting = journey
    index, status, start_us, ran_us, detail, error, waited_us, _ = _slots(waiting)
    return [*before, entry(index, StepStatus(status), start_us, ran_us, detail, error, waited_us, by)]


def continued(
    waiting: Entry, status: StepStatus, began_us: int, end_us: int, detail: Any, error: str | None
) -> Entry:
    """The entry of a step that waited, once it ran again from ``began_us`` to ``end_us``.

    Should it ask again, it waits on in the same entry, its waits added up: until
    the next answer, what it "ran before it asked" reaches up to the new question.
    """
    index, _, start_us, ran_us, _, _, waited_us, answered_by = _slots(waiting)
    waited_us = (waited_us or 0) + began_us - (start_us + (ran_us or 0))
    if status is StepStatus.WAITING:
        answered_by = None
    return entry(index, status, start_us, end_us - start_us, detail, error, waited_us, answered_by)


class StepRun(NamedTuple):
    # A tuple, not a frozen dataclass: a console page decodes 30,000 of them.
    name: str
    status: StepStatus
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None
    detail: Any
    error: str | None
    # For a step that waited for an answer: how long, and who answered.
    waited_seconds: float | None
    answered_by: str | None


_STATUSES = {status.value: status for status in StepStatus}
_WAITING = StepStatus.WAITING.value
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
        # A waiting step has not ended: what it ran before it asked is no duration yet.
        duration_us = stored[3] if size > 3 and status != _WAITING else None
        waited_us = stored[6] if size > 6 else None
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
                waited_seconds=None if waited_us is None else waited_us / 1_000_000,
                answered_by=stored[7] if size > 7 else None,
            )
        )
    return runs
