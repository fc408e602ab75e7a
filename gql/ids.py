"""Global object ids: a node's kind and primary key, sealed (``domain.opaque``), never readable."""

from __future__ import annotations

import strawberry

from domain.errors import NotFound
from domain.opaque import seal, unseal

# Every kind of node an id may name; node(id) looks among them.
NODE_KINDS = ("Job", "Chunk", "Record", "LogEntry", "Tenant", "Principal", "Schedule", "BulkOperation", "ApiToken")


class MalformedId(NotFound):
    """An id that cannot name an object of its kind: not found, as an unknown id is (a mutation
    answers both alike), yet the argument itself is wrong, which a query's error says."""


def to_global_id(kind: str, pk: int) -> strawberry.ID:
    return strawberry.ID(seal(kind, pk))


def parse_global_id(value: str) -> tuple[str, int] | None:
    return unseal(value, NODE_KINDS)


def from_global_id(value: str, kind: str) -> int:
    """The database id behind ``value``; MalformedId for malformed ids and ids of another kind."""
    parsed = unseal(value, (kind,))
    if parsed is None:
        raise MalformedId(kind.lower(), value)
    return parsed[1]
