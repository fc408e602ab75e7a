"""A response's JSON, written a slice of the event loop at a time and bounded in size.

msgspec writes the heaviest answer the cost limit lets through (8.8 MB) in one call of
tens of milliseconds, and nothing else in the process runs meanwhile; and the items a query
may ask for are bounded, but not what each holds (a step's ``detail``, a job's ``params``).
So a big response is written in pieces (a list whose items hold lists item by item, what holds
no such list whole), the other requests get turns of the loop between them once a slice of time
is used (``gql.pacing.give_way``),
and writing stops as soon as the pieces pass the byte limit: the client then gets
``ResponseTooLarge``, never a truncated body. The heaviest answer takes about twice the CPU of
one call, in slices of ``SLICE_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from gql.http import response_body
from gql.pacing import SLICE_SECONDS, give_way


class ResponseTooLarge(Exception):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"the response would be larger than {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


async def encode_response(response: Any, limit_bytes: int) -> bytes:
    """``response`` as JSON (what ``response_body`` writes), or ResponseTooLarge past ``limit_bytes``."""
    pieces: list[bytes] = []
    size = 0
    began = time.monotonic()
    for piece in _pieces(response) if _splits(response) else [response_body(response)]:
        size += len(piece)
        if size > limit_bytes:
            raise ResponseTooLarge(limit_bytes)
        pieces.append(piece)
        if time.monotonic() - began > SLICE_SECONDS:
            await give_way()
            began = time.monotonic()
    return b"".join(pieces)


def _pieces(value: Any) -> Iterator[bytes]:
    """The JSON of a value that splits (``_splits``), in pieces: each of its items that splits
    too in pieces of its own, the rest whole (in a dict, the members between two such items
    together)."""
    if type(value) is list:
        opening = b"["
        for item in value:
            if _splits(item):
                yield opening
                yield from _pieces(item)
            else:
                yield opening + response_body(item)
            opening = b","
        yield b"]"
        return
    opening, whole = b"{", {}
    for key, item in value.items():
        if _splits(item):
            if whole:
                yield opening + response_body(whole)[1:-1]
                opening, whole = b",", {}
            yield opening + response_body(key) + b":"
            yield from _pieces(item)
            opening = b","
        else:
            whole[key] = item
    if whole:
        yield opening + response_body(whole)[1:-1]
    yield b"}"


def _splits(value: Any) -> bool:
    """Whether a value is written in pieces: a list whose items hold lists, or a dict that holds
    such a list (in it or in its dicts). The items of a GraphQL list have one selection, so the first item
    tells: a page of records with their journeys is written a record at a time, each record
    (and its journey) whole."""
    if type(value) is list:
        first = next((item for item in value if item is not None), None)
        return type(first) is list or (type(first) is dict and _holds_list(first))
    if type(value) is dict:
        return any(_splits(item) for item in value.values())
    return False


def _holds_list(value: dict[Any, Any]) -> bool:
    """Whether a list is in ``value``, or in the dicts it holds."""
    pending = [value]
    while pending:
        for item in pending.pop().values():
            if type(item) is list:
                return True
            if type(item) is dict:
                pending.append(item)
    return False
