"""What a job or chunk that has not finished holds open: records waiting for answers, records in flight."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import open_records
from gql.scalars import BigInt


@strawberry.type(description="The records of a WAITING job that wait for an answer (completeWait, or a timeout).")
class WaitingRecords:
    count: BigInt
    since: datetime | None = strawberry.field(
        description="When the longest of their waits began; null if it began before Jobtower kept it."
    )

    @classmethod
    def of(cls, found: open_records.WaitingRecords) -> WaitingRecords:
        return cls(count=found.count, since=found.since)


@strawberry.type(
    description="The records a chunk's worker has in hand: running now or in its next batches, their outcomes"
    " written together at its next flush."
)
class RecordsInFlight:
    count: BigInt
    from_position: BigInt = strawberry.field(
        description="The first of them: a record answered after a wait (they run first), else the chunk's cursor."
    )

    @classmethod
    def of(cls, found: open_records.InFlight) -> RecordsInFlight:
        return cls(count=found.count, from_position=found.from_position)
