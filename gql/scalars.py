"""Scalars and enums of the schema. Domain enums are exposed as they are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.scalars import JSON
from strawberry.schema.types.base_scalars import DateTimeDefinition

from domain.access import ActorKind, PrincipalKind, Role
from domain.listing import Direction, JobOrderField
from domain.logs import LogLevel
from domain.progress import WaitingReason
from domain.statuses import ChunkStatus, EventKind, JobOutcome, JobStatus, Operation, RecordStatus, StepStatus

# Record counters can pass GraphQL's 32-bit Int.
BigInt = NewType("BigInt", int)

# The moments a DateTime argument may name: a day short of datetime's ends, so that turning an
# offset into UTC, or a range into buckets, stays inside the calendar Python can hold.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)
_EARLIEST_TEXT, _LATEST_TEXT = (moment.isoformat().replace("+00:00", "Z") for moment in (EARLIEST, LATEST))
_RANGE = f"DateTime must be between {_EARLIEST_TEXT} and {_LATEST_TEXT}"


def parse_datetime(value: object) -> datetime:
    """An ISO 8601 moment in UTC (one without an offset is taken as UTC, as the domain does),
    refused with the range when it lies outside it."""
    moment: datetime = DateTimeDefinition.parse_value(value)  # type: ignore[misc]
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise StrawberryInputCoercionError(f'{_RANGE}, not "{value}"') from None
    if not EARLIEST <= utc <= LATEST:
        raise StrawberryInputCoercionError(f'{_RANGE}, not "{value}"')
    return utc


# The schema's own scalars, by the Python type that stands for each.
SCALARS = {
    BigInt: strawberry.scalar(
        name="BigInt", serialize=int, parse_value=int, description="A whole number that may exceed 32 bits."
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        serialize=datetime.isoformat,
        parse_value=parse_datetime,
        description=f"A moment in ISO 8601 with its offset (taken as UTC without one), from {_EARLIEST_TEXT} to {_LATEST_TEXT}.",
    ),
}

for enum in (
    JobStatus,
    JobOutcome,
    ChunkStatus,
    RecordStatus,
    StepStatus,
    EventKind,
    Operation,
    ActorKind,
    Role,
    PrincipalKind,
    LogLevel,
    WaitingReason,
    JobOrderField,
    Direction,
):
    strawberry.enum(enum)

__all__ = ["JSON", "SCALARS", "BigInt"]
