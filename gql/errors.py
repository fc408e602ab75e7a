"""What clients see of errors: the typed errors mutations return, one GraphQL type per domain
error code, and the ``extensions`` of every other GraphQL error.

A mutation's refusal is a member of its result union. Anything else that goes wrong is a
GraphQL error whose ``extensions.code`` is the code generic GraphQL clients and tools classify
errors by (Apollo Server's names), with Jobtower's own code beside it in ``jobtowerCode``:

- a query's refusal: ``NOT_FOUND``, ``FORBIDDEN``, ``UNAUTHENTICATED``, ``RATE_LIMITED`` (a
  plan limit), or ``BAD_USER_INPUT`` for the rest (bad arguments, a malformed id or cursor);
- a document that does not parse (``GRAPHQL_PARSE_FAILED``) or validate
  (``GRAPHQL_VALIDATION_FAILED``), variables that do not fit it (``BAD_USER_INPUT``);
- an exception no check anticipated: masked (``INTERNAL_SERVER_ERROR``, see gql.extensions).
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from domain import errors
from gql.ids import MalformedId

# Where an error's own code goes, beside the generic ``code``.
OWN_CODE = "jobtowerCode"

BAD_REQUEST = "BAD_REQUEST"
BAD_USER_INPUT = "BAD_USER_INPUT"
FORBIDDEN = "FORBIDDEN"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
NOT_FOUND = "NOT_FOUND"
RATE_LIMITED = "RATE_LIMITED"
UNAUTHENTICATED = "UNAUTHENTICATED"

# The generic code of a refusal, by the most specific class listed; any other refusal (bad
# input, an unknown job type, an operation the job's status does not allow) is the client's
# request to change: BAD_USER_INPUT.
_GENERIC_CODES: dict[type[errors.JobtowerError], str] = {
    MalformedId: BAD_USER_INPUT,
    errors.NotFound: NOT_FOUND,
    errors.Forbidden: FORBIDDEN,
    errors.Unauthenticated: UNAUTHENTICATED,
    errors.PlanLimitExceeded: RATE_LIMITED,
}

# Strawberry's refusals of a request it cannot run at all (no query, no such operation, an
# operation the transport does not allow), raised before any resolver.
_REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


@strawberry.interface(name="Error")
class Error:
    code: str
    message: str


@strawberry.type
class NotFoundError(Error):
    pass


@strawberry.type
class ForbiddenError(Error):
    needed_role: str


@strawberry.type
class InvalidTransitionError(Error):
    status: str
    operation: str


@strawberry.type
class NotStoppableError(Error):
    job_type: str


@strawberry.type
class NotRestartableError(Error):
    job_type: str


@strawberry.type
class PlanLimitError(Error):
    resource: str
    limit: int
    used: int = strawberry.field(
        description="What counts against the limit this month: for records, those used plus those reserved by jobs not ended."
    )
    requested: int


@strawberry.type
class UnknownJobTypeError(Error):
    job_type: str


@strawberry.type
class InvalidInputError(Error):
    field: str


def to_error(error: errors.JobtowerError) -> Error:
    """The GraphQL error for a domain refusal."""
    base = {"code": error.code, "message": error.message}
    match error:
        case errors.NotFound():
            return NotFoundError(**base)
        case errors.Forbidden():
            return ForbiddenError(**base, needed_role=error.needed_role)
        case errors.InvalidTransition():
            return InvalidTransitionError(**base, status=error.status, operation=error.operation)
        case errors.JobNotStoppable():
            return NotStoppableError(**base, job_type=error.job_type)
        case errors.JobNotRestartable():
            return NotRestartableError(**base, job_type=error.job_type)
        case errors.PlanLimitExceeded():
            return PlanLimitError(
                **base, resource=error.resource, limit=error.limit, used=error.used, requested=error.requested
            )
        case errors.UnknownJobType():
            return UnknownJobTypeError(**base, job_type=error.name)
        case errors.InvalidInput():
            return InvalidInputError(**base, field=error.field)
    raise error


def is_unexpected(error: GraphQLError) -> bool:
    """Whether ``error`` comes from an exception no check anticipated: the server's fault, which
    the client must not see. graphql-core reports the client's mistakes (syntax, validation,
    variables) as GraphQLErrors of its own, which they wrap when they have a cause."""
    original = error.original_error
    return original is not None and not isinstance(
        original, (errors.JobtowerError, GraphQLError, *_REQUEST_ERRORS)
    )


def public_extensions(error: GraphQLError) -> dict[str, Any]:
    """The extensions of an error that is not masked: its generic code first, and what it carries."""
    original = error.original_error
    if isinstance(original, errors.JobtowerError):
        return refusal_extensions(original)
    if isinstance(error, GraphQLSyntaxError):
        code = GRAPHQL_PARSE_FAILED
    elif isinstance(original, _REQUEST_ERRORS):
        code = BAD_REQUEST
    elif error.path is None:
        # Outside a field: the document or its variables. graphql-core wraps the scalar's
        # refusal of a variable; validation rules report errors without a cause.
        code = BAD_USER_INPUT if original is not None else GRAPHQL_VALIDATION_FAILED
    else:
        # graphql-core's own report of a field that broke its type (a null in a non-null field).
        code = INTERNAL_SERVER_ERROR
    return {"code": code, **error.extensions}


def refusal_extensions(error: errors.JobtowerError) -> dict[str, Any]:
    kinds = type(error).__mro__
    generic = next((_GENERIC_CODES[kind] for kind in kinds if kind in _GENERIC_CODES), BAD_USER_INPUT)
    extensions: dict[str, Any] = {"code": generic, OWN_CODE: error.code}
    if isinstance(error, errors.InvalidInput):
        extensions["field"] = error.field
    return extensions
