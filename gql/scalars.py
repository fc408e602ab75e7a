"""Scalars and enums of the schema. Domain enums are exposed as they are."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.scalars import JSON

from domain.access import ActorKind, PrincipalKind, Role
from domain.listing import Direction, JobOrderField
from domain.logs import LogLevel
from domain.progress import WaitingReason
from domain.statuses import ChunkStatus, EventKind, JobOutcome, JobStatus, Operation, RecordStatus, StepStatus

# Record counters can pass GraphQL's 32-bit Int.
BigInt = NewType("BigInt", int)

# The schema's own scalars, by the Python type that stands for each.
SCALARS = {
    BigInt: strawberry.scalar(
        name="BigInt", serialize=int, parse_value=int, description="A whole number that may exceed 32 bits."
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
