"""Who is acting: roles, the acting principal, and the API-token format.

A principal belongs to one tenant. ``PLATFORM`` principals act on every tenant
with admin rights; everyone else is confined to their own tenant.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import Forbidden


class Role(StrEnum):
    VIEWER = "VIEWER"  # reads
    OPERATOR = "OPERATOR"  # also starts and steers jobs
    ADMIN = "ADMIN"  # also schedules, system jobs, priority, tokens and limits
    PLATFORM = "PLATFORM"  # admin of every tenant

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2, Role.PLATFORM: 3}


class PrincipalKind(StrEnum):
    USER = "USER"
    BOT = "BOT"
    SYSTEM = "SYSTEM"  # the platform itself: schedules, pruning


class ActorKind(StrEnum):
    """Who or what caused something a job's history records."""

    USER = "USER"  # a person, through a token
    BOT = "BOT"  # automation, through a token
    SYSTEM = "SYSTEM"  # the platform: dispatcher, reaper, wait timeouts, schedules
    WORKER = "WORKER"  # a worker, reporting what the work did: started, waiting, done, drained, failed

    @classmethod
    def of_principal(cls, kind: PrincipalKind) -> ActorKind:
        return cls(kind.value)


@dataclass(frozen=True)
class Actor:
    """The principal a domain verb acts for, or the part of the platform acting by itself."""

    tenant_id: int
    role: Role
    name: str
    principal_id: int | None = None
    kind: ActorKind = ActorKind.USER

    @classmethod
    def system(cls, tenant_id: int) -> Actor:
        return cls(tenant_id=tenant_id, role=Role.ADMIN, name="system", kind=ActorKind.SYSTEM)

    @classmethod
    def worker(cls, tenant_id: int) -> Actor:
        return cls(tenant_id=tenant_id, role=Role.ADMIN, name="worker", kind=ActorKind.WORKER)

    @property
    def is_platform(self) -> bool:
        return self.role is Role.PLATFORM

    def has(self, role: Role) -> bool:
        return self.role.rank >= role.rank

    def require(self, role: Role, action: str) -> None:
        if not self.has(role):
            raise Forbidden(needed_role=role.value, action=action)

    def sees_tenant(self, tenant_id: int) -> bool:
        return self.is_platform or tenant_id == self.tenant_id

    @property
    def sees_system_jobs(self) -> bool:
        return self.has(Role.ADMIN)


# The platform acting by itself on one of a tenant's jobs: ``Actor.system`` or ``Actor.worker``.
PlatformActor = Callable[[int], Actor]


TOKEN_PREFIX = "jt_"
# The start of a token that lists show, so a leaked token can be told apart: 54 of its
# 256 random bits, too few to guess the rest.
DISPLAY_PREFIX_LENGTH = 12


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is a safe, fast lookup key."""
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_PREFIX_LENGTH]
