"""Talking to the API the way clients do: GraphQL over HTTP with a bearer token."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from domain.access import Actor, PrincipalKind, Role
from domain.models import Principal, Tenant
from domain.tenants import create_token
from gql.http import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON
from gql.ids import to_global_id

__all__ = [
    "APPLICATION_JSON", "GRAPHQL_RESPONSE_JSON", "Api", "TenantApi", "counting_statements", "gid", "substitute"
]


def gid(kind: str, pk: int) -> str:
    return str(to_global_id(kind, pk))


@dataclass
class Api:
    """One principal's view of the API."""

    http: httpx.AsyncClient
    token: str | None
    principal: Principal | None = None

    @property
    def actor(self) -> Actor:
        """The same principal, for setting up data through the domain verbs."""
        assert self.principal is not None
        principal = self.principal
        return Actor(tenant_id=principal.tenant_id, role=principal.role, name=principal.name, principal_id=principal.id)

    def headers(self, accept: str = GRAPHQL_RESPONSE_JSON) -> dict[str, str]:
        headers = {"accept": accept}
        if self.token is not None:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    async def post(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        accept = kwargs.pop("accept", GRAPHQL_RESPONSE_JSON)
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=self.headers(accept), **kwargs
        )

    async def get(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        import json

        params = {"query": query}
        if variables:
            params["variables"] = json.dumps(variables)
        accept = kwargs.pop("accept", GRAPHQL_RESPONSE_JSON)
        return await self.http.get("/graphql", params=params, headers=self.headers(accept), **kwargs)

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole GraphQL response of a request that executed (HTTP 200)."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of a request that must succeed without any error."""
        body = await self.execute(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def error_codes(self, query: str, variables: dict[str, Any] | None = None) -> list[str]:
        body = await self.execute(query, variables)
        return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


@dataclass
class TenantApi:
    """A tenant and an API client per role, each with a token of its own."""

    http: httpx.AsyncClient
    tenant: Tenant
    _clients: dict[Role, Api] = field(default_factory=dict)

    async def as_(self, role: Role) -> Api:
        if role not in self._clients:
            issued = await create_token(
                self.tenant.slug, role, name=f"{role.value.lower()} of {self.tenant.slug}", kind=PrincipalKind.USER
            )
            self._clients[role] = Api(self.http, issued.token, issued.principal)
        return self._clients[role]

    @property
    def id(self) -> str:
        return gid("Tenant", self.tenant.id)


def substitute(value: Any, replacements: dict[str, str]) -> Any:
    """``value`` (a response) with ids replaced by placeholders; whole tokens only."""
    if isinstance(value, dict):
        return {key: substitute(item, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, replacements) for item in value]
    if isinstance(value, str):
        for old, new in replacements.items():
            value = re.sub(rf"(?<![\w=+/-]){re.escape(old)}(?![\w=+/-])", new, value)
        return value
    return value


class StatementCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.lstrip().split(" ", 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            self.statements.append(message)


@contextmanager
def counting_statements() -> Iterator[StatementCounter]:
    """Every SQL statement Tortoise sends, on either backend (its client logs each one)."""
    logger = logging.getLogger("tortoise.db_client")
    counter = StatementCounter()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous)


@asynccontextmanager
async def turns_of_another_client() -> AsyncIterator[list[int]]:
    """How many turns of the event loop another task got while the block ran (``turns[0]``)."""
    turns = [0]

    async def other_client() -> None:
        while True:
            turns[0] += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_client())
    await asyncio.sleep(0)
    started = turns[0]
    try:
        yield turns
    finally:
        other.cancel()
        turns[0] -= started
