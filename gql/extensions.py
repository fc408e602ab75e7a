"""What clients see of errors: domain refusals with their code, nothing of the unexpected.

A resolver that raises a domain error (bad paging input, an id of another
tenant...) yields a GraphQL error whose ``extensions.code`` is the domain code.
Anything else is logged with its stack and a request id, and the client gets
only ``INTERNAL_ERROR`` and that id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult, PreExecutionError

from domain.errors import JobtowerError

log = logging.getLogger("jobtower.api")


class ErrorPolicy(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [self._public(error) for error in result.errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a subscription is made public before it is sent. An error its event
        stream raised has no path, yet a resolver ran: it is a refusal or masked like any other."""
        if isinstance(result, ExecutionResult) and not isinstance(result, PreExecutionError) and result.errors:
            result.errors = [self._public(error, resolved=True) for error in result.errors]
        yield

    def _public(self, error: GraphQLError, resolved: bool = False) -> GraphQLError:
        original = error.original_error
        if original is None or (error.path is None and not resolved):
            # A syntax, validation or variable error (a bad DateTime wraps the parser's
            # exception): raised before any resolver ran, safe, and the client's to fix.
            return error
        if isinstance(original, JobtowerError):
            extensions = {"code": original.code}
            if field := getattr(original, "field", None):
                extensions["field"] = field
            return GraphQLError(original.message, nodes=error.nodes, path=error.path, extensions=extensions)
        request_id = uuid.uuid4().hex[:12]
        log.error("request %s failed at %s", request_id, error.path, exc_info=original)
        return GraphQLError(
            f"internal error (request {request_id})",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_ERROR", "requestId": request_id},
        )
