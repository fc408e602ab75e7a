"""Counts of record outcomes: the one type for them, and the one rule from record statuses to counters.

The runner adds up what it wrote, the database keeps the same counters on every
job and chunk row (raised in the transaction that writes the records), and the
API shows them: all three use ``Counts`` and ``COUNTER_OF``. Counters only ever
grow, because a record gets its outcome once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from tortoise.expressions import F

from domain.statuses import RecordStatus

# The counter each outcome raises; open records (pending, running, waiting) count in none.
COUNTER_OF: Mapping[RecordStatus, str] = {
    RecordStatus.SUCCEEDED: "succeeded",
    RecordStatus.FAILED: "failed",
    RecordStatus.SKIPPED: "skipped",
    RecordStatus.INTERRUPTED: "interrupted",
    RecordStatus.CANCELED: "canceled",
}


@dataclass(frozen=True, slots=True)
class Counts:
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: int = 0
    canceled: int = 0

    @property
    def done(self) -> int:
        """Records with an outcome."""
        return self.succeeded + self.failed + self.skipped + self.interrupted + self.canceled

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, name) + getattr(other, name) for name in COUNTERS))

    def __bool__(self) -> bool:
        return self.done > 0

    @classmethod
    def of_statuses(cls, statuses: Iterable[RecordStatus]) -> Counts:
        return cls.of_tally(Counter(statuses))

    @classmethod
    def of_tally(cls, by_status: Mapping[RecordStatus, int]) -> Counts:
        """From a number of records per status (a GROUP BY)."""
        tally = dict.fromkeys(COUNTERS, 0)
        for status, n in by_status.items():
            counter = COUNTER_OF.get(status)
            if counter is not None:
                tally[counter] += n
        return cls(**tally)

    @classmethod
    def of_row(cls, row: Any) -> Counts:
        """The counters a job or chunk row holds."""
        return cls(*(getattr(row, name) for name in COUNTERS))

    def increments(self) -> dict[str, Any]:
        """Column updates that add these counts to a job or chunk row (``done`` included)."""
        changes: dict[str, Any] = {name: F(name) + getattr(self, name) for name in COUNTERS if getattr(self, name)}
        if changes:
            changes["done"] = F("done") + self.done
        return changes


COUNTERS = tuple(field.name for field in fields(Counts))
