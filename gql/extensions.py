"""Errors on their way out: unexpected ones masked and logged, every one with its code.

The schema's ``process_errors`` hook sees each error first, before any extension
changes it: it logs an unexpected one with its stack and a request id
(``log_unexpected``). ``PublicErrors`` then replaces that error with a generic one
that carries only the id, and gives every other error the extensions of
``gql.errors.public_extensions``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from gql.errors import INTERNAL_SERVER_ERROR, is_unexpected, public_extensions
from jobtower.logging_setup import bound_log_fields

log = logging.getLogger("jobtower.api")

REQUEST_ID = "requestId"


def log_unexpected(errors: list[GraphQLError]) -> None:
    """Logs each unexpected error with its stack, once, under a request id kept with the error.
    The client's mistakes and the business refusals are answers, not faults: they are not logged."""
    for error in errors:
        if is_unexpected(error):
            _request_id(error)


class PublicErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="internal error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        request_id = _request_id(error)
        masked.message = f"{self.error_message} (request {request_id})"
        masked.extensions = {"code": INTERNAL_SERVER_ERROR, REQUEST_ID: request_id}
        return masked

    def on_operation(self) -> Iterator[None]:
        yield from super().on_operation()
        _label(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a subscription, before it is sent."""
        if not getattr(result, "errors", None):
            # Nothing to mask, as in most results: skips the costly checks of Strawberry's.
            self._stream_result_processed = True
            yield
            return
        _label(result)
        yield from super().on_stream_result(result)


def _label(result: Any) -> None:
    for error in getattr(result, "errors", None) or ():
        if not is_unexpected(error):
            error.extensions = public_extensions(error)


def _request_id(error: GraphQLError) -> str:
    """The id the error was logged under; logged now if it was not yet."""
    request_id = error.extensions.get(REQUEST_ID)
    if request_id is None:
        request_id = str(bound_log_fields().get("request_id") or uuid.uuid4().hex[:12])
        log.error("request %s failed at %s", request_id, error.path, exc_info=error.original_error)
        # A new dict: the one there may be the original exception's own.
        error.extensions = {**error.extensions, REQUEST_ID: request_id}
    return request_id
