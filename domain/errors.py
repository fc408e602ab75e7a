"""Business errors. Each names one condition, carries its context and its public code.

Every refusal of a domain verb raises one of these before anything is written.
"""

from __future__ import annotations


class JobtowerError(Exception):
    code = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(JobtowerError):
    """Also what another tenant's ids answer: indistinguishable from a missing id."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, id: object) -> None:
        super().__init__(f"{kind} {id} not found")
        self.kind = kind
        self.id = id


class Unauthenticated(JobtowerError):
    code = "UNAUTHENTICATED"

    def __init__(self) -> None:
        super().__init__("a valid API token is required")


class Forbidden(JobtowerError):
    code = "FORBIDDEN"

    def __init__(self, needed_role: str, action: str) -> None:
        super().__init__(f"{action} needs the {needed_role} role")
        self.needed_role = needed_role
        self.action = action


class InvalidTransition(JobtowerError):
    code = "INVALID_TRANSITION"

    def __init__(self, status: str, operation: str, reason: str | None = None) -> None:
        super().__init__(reason or f"cannot {operation.lower().replace('_', ' ')} a {status} job")
        self.status = status
        self.operation = operation


class JobNotStoppable(JobtowerError):
    code = "NOT_STOPPABLE"

    def __init__(self, job_type: str) -> None:
        super().__init__(f"jobs of type {job_type} cannot be stopped")
        self.job_type = job_type


class JobNotRestartable(JobtowerError):
    code = "NOT_RESTARTABLE"

    def __init__(self, job_type: str) -> None:
        super().__init__(f"jobs of type {job_type} cannot be restarted")
        self.job_type = job_type


class PlanLimitExceeded(JobtowerError):
    code = "PLAN_LIMIT"

    def __init__(self, resource: str, limit: int, used: int, requested: int, message: str | None = None) -> None:
        super().__init__(message or f"monthly {resource} limit reached: {used} used of {limit}, {requested} requested")
        self.resource = resource
        self.limit = limit
        self.used = used
        self.requested = requested


class UnknownJobType(JobtowerError):
    code = "UNKNOWN_JOB_TYPE"

    def __init__(self, name: str) -> None:
        super().__init__(f"no job type named {name!r}")
        self.name = name


class InvalidInput(JobtowerError):
    code = "INVALID_INPUT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
