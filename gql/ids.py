"""Global object ids: opaque to clients, ``base64("Job:42")`` inside."""

from __future__ import annotations

import base64
import binascii

import strawberry

from domain.errors import NotFound


class MalformedId(NotFound):
    """An id that cannot name an object of its kind: not found, as an unknown id is (a mutation
    answers both alike), yet the argument itself is wrong, which a query's error says."""


def to_global_id(kind: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{kind}:{pk}".encode()).decode().rstrip("="))


def parse_global_id(value: str) -> tuple[str, int] | None:
    try:
        padded = value + "=" * (-len(value) % 4)
        kind, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        number = int(pk)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not kind or number < 0 or number >= 2**63:
        return None
    return kind, number


def from_global_id(value: str, kind: str) -> int:
    """The database id behind ``value``; MalformedId for malformed ids and ids of another kind."""
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != kind:
        raise MalformedId(kind.lower(), value)
    return parsed[1]
