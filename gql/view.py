"""GraphQL over HTTP and WebSocket at ``/graphql``: bearer tokens, GraphiQL for browsers."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from domain.errors import Unauthenticated
from domain.tenants import authenticate
from gql.context import Context
from gql.schema import schema


def bearer_token(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, redis: Redis, allowed_origins: tuple[str, ...] = ()) -> None:
        super().__init__(schema, graphql_ide="graphiql", allowed_origins=allowed_origins)
        self.redis = redis

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        context = Context(redis=self.redis, request=request, response=response)
        if isinstance(request, WebSocket) or _wants_graphiql(request):
            return context  # WebSocket clients authenticate in connection_init
        try:
            context.actor = await authenticate(bearer_token(request.headers.get("authorization")))
        except Unauthenticated as error:
            raise HTTPException(401, error.message) from None
        return context

    async def on_ws_connect(self, context: Context) -> None:
        payload = context.connection_params
        token = None
        if isinstance(payload, dict):
            token = bearer_token(payload.get("authorization") or payload.get("Authorization"))
            token = token or payload.get("token")
        try:
            context.actor = await authenticate(token if isinstance(token, str) else None)
        except Unauthenticated as error:
            raise ConnectionRejectionError({"message": error.message, "code": error.code}) from None


def _wants_graphiql(request: Request) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )
