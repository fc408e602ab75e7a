"""The typed errors mutations return: one GraphQL type per domain error code."""

from __future__ import annotations

import strawberry

from domain import errors


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
