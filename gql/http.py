"""GraphQL over HTTP: which media type a client gets, and the shape of errors refused before execution.

A client that accepts ``application/graphql-response+json`` (or anything: no
Accept header, ``*/*``) gets that media type and HTTP status codes that mean
something (400 for a document that does not parse or validate); a client that
asks for ``application/json`` keeps the legacy "200 for every well-formed
request" rule. Either way, a refusal is a GraphQL response body
(``{"errors": [{"message", "extensions": {"code"}}]}``), never plain text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import msgspec

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"

# JSON a request may nest: GraphQL inputs and job params need a handful of levels; thousands
# would exhaust the stack of whatever walks them next.
MAX_JSON_DEPTH = 64

# The code a refusal carries when the status alone says what went wrong.
STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "REQUEST_TOO_LARGE",
    414: "REQUEST_TOO_LARGE",
    431: "REQUEST_TOO_LARGE",
}


def response_media_type(accept: str | None) -> str:
    """The media type to answer with: graphql-response+json unless the client prefers
    application/json. Ties go to graphql-response+json, as GraphQL over HTTP advises, and so do
    a wildcard (the server's choice) and a missing header (the spec's default since 2025)."""
    if not accept:
        return GRAPHQL_RESPONSE_JSON
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        weights[media] = max(weights.get(media, 0.0), quality)

    def quality_of(media: str) -> float:
        # The most specific range that names a type gives its quality (RFC 9110, 12.5.1).
        for candidate in (media, "application/*", "*/*"):
            if candidate in weights:
                return weights[candidate]
        return 0.0

    graphql = quality_of(GRAPHQL_RESPONSE_JSON)
    plain = quality_of(APPLICATION_JSON)
    return GRAPHQL_RESPONSE_JSON if graphql > 0 and graphql >= plain else APPLICATION_JSON


class MalformedJSON(ValueError):
    """JSON a request carries that cannot be read, or that no GraphQL request could need."""


def decode_json(data: str | bytes, what: str) -> Any:
    """``data`` decoded, refused when it does not parse, nests deeper than ``MAX_JSON_DEPTH`` or
    holds an integer longer than Python converts (which json.loads would raise as a bare
    ValueError). Python's parser, not msgspec, as it reads NaN and Infinity: the inputs refuse
    those with the field they sit in."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        raise MalformedJSON(f"{what} is not valid JSON") from None
    except RecursionError:
        raise MalformedJSON(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        raise MalformedJSON(
            f"{what} holds an integer of more than {sys.get_int_max_str_digits()} digits"
        ) from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise MalformedJSON(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


_RESPONSE_JSON = msgspec.json.Encoder()


def response_body(response: Any) -> bytes:
    """A response's JSON. msgspec writes the console's 3 MB page in a sixth of json.dumps'
    time (40 -> 6 ms), and keeps integers of any size (orjson, which Tortoise would also pick
    up for every JSON column, does not); what it cannot encode goes to json.dumps."""
    try:
        return _RESPONSE_JSON.encode(response)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return json.dumps(response, separators=(",", ":")).encode()


def error_body(message: str, code: str, **extensions: Any) -> bytes:
    return json.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]},
        separators=(",", ":"),
    ).encode()


def error_headers(media_type: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"content-type": media_type, **(extra or {})}
