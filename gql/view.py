"""GraphQL over HTTP and WebSocket at ``/graphql``: bearer tokens, no IDE page of Strawberry's.

Beyond Strawberry's view: refusals are GraphQL responses with a code (a
missing token is a JSON 401, not plain text), a mutation sent with GET is a
405, a subscription sent over HTTP a 400 that points to the WebSocket, JSON
that is no request object (or nests too deep, see gql.http) a 400, and clients
that accept ``application/graphql-response+json`` get it, with 400 and no
``data`` when the document does not parse or validate. A response is written in slices of the
event loop and refused past ``max_response_bytes`` (gql.encoding): ``RESPONSE_TOO_LARGE``, as
a request error is, never a truncated body. A client that goes away before its request arrives
whole is logged (INFO) and not answered: nobody is left to read it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from redis.asyncio import Redis
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.types import QueryParams
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from domain.errors import InvalidInput, Unauthenticated
from domain.tenants import authenticate
from gql.context import Context
from gql.encoding import ResponseTooLarge, encode_response
from gql.errors import BAD_REQUEST, OWN_CODE
from gql.fanout import encode_message
from gql.http import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    STATUS_CODES,
    MalformedJSON,
    decode_json,
    error_body,
    response_media_type,
)
from gql.pacing import answering, let_go
from gql.schema import schema_for
from gql.timing import OperationObserver
from gql.websocket import OpenConnections, SizedWebSocketAdapter, TransportHandler, WebSocketLimits
from jobtower.logging_setup import bind_log_fields


logger = logging.getLogger(__name__)

INVALID_INPUT = InvalidInput.code
RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
SUBSCRIPTIONS_NEED_WEBSOCKET = (
    "subscriptions run over the WebSocket at /graphql (subprotocol graphql-transport-ws), not over HTTP"
)


class HTTPRefusal(HTTPException):
    """A request refused before execution, answered as a GraphQL error with ``code``."""

    def __init__(  # noqa: PLR0913
        self,
        status_code: int,
        message: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        own_code: str | None = None,
    ) -> None:
        super().__init__(status_code, message)
        self.code = code or STATUS_CODES.get(status_code, "BAD_REQUEST")
        self.headers = dict(headers or {})
        self.extensions = {OWN_CODE: own_code} if own_code else {}


def bearer_token(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = SizedWebSocketAdapter
    graphql_transport_ws_handler_class = TransportHandler

    def __init__(
        self,
        redis: Redis,
        allowed_origins: tuple[str, ...],
        fast_execution: bool,
        websocket_limits: WebSocketLimits,
        max_response_bytes: int,
        observe_operation: OperationObserver | None = None,
    ) -> None:
        # Not Strawberry's GraphiQL: its page loads React and GraphiQL from a CDN, so it is blank
        # offline and breaks "no request leaves the origin"; jobtower.graphiql serves one built
        # into the package instead.
        # Subscriptions are bounded per principal (gql.websocket), not per connection.
        super().__init__(
            schema_for(fast_execution),
            graphql_ide=None,
            allowed_origins=allowed_origins,
            max_subscriptions_per_connection=None,
        )
        self.redis = redis
        self.observe_operation = observe_operation
        self.max_response_bytes = max_response_bytes
        self.websocket_limits = websocket_limits
        self.open_connections = OpenConnections(websocket_limits, redis)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            async with answering():
                response = await self.run(request)
        except HTTPException as error:
            response = _refusal_response(request, error)
        except ClientDisconnect:
            # Nobody is left to answer, and nothing went wrong here: the server closes the connection.
            logger.info(
                "%s %s: the client went away before its request arrived whole", request.method, request.url.path
            )
            return
        await response(scope, receive, send)

    def parse_json(self, data: str | bytes) -> dict[str, Any]:
        """The POST body: one request object (batches are off)."""
        body = _decoded(data, "the request body")
        if not isinstance(body, dict):
            raise HTTPRefusal(400, "the request body must be a JSON object", own_code=INVALID_INPUT)
        return body

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        # Strawberry then checks that variables and extensions are objects.
        parsed: dict[str, Any] = dict(params)
        for name in ("variables", "extensions"):
            if parsed.get(name):
                parsed[name] = _decoded(parsed[name], f"`{name}`")
        return parsed

    def encode_json(self, data: object) -> str:
        # Subscribers sharing an answer share its JSON too (gql.fanout).
        return encode_message(data)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        context = Context(
            redis=self.redis, request=request, response=response, observe_operation=self.observe_operation
        )
        if isinstance(request, WebSocket):
            return context  # WebSocket clients authenticate in connection_init
        try:
            context.actor = await authenticate(bearer_token(request.headers.get("authorization")))
        except Unauthenticated as error:
            raise HTTPRefusal(
                401, error.message, error.code, headers={"WWW-Authenticate": 'Bearer realm="jobtower"'}
            ) from None
        bind_log_fields(tenant_id=context.actor.tenant_id)
        return context

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        request.state.graphql_sub_response = sub_response
        return sub_response

    async def execute_single(  # noqa: PLR0917 - Strawberry's signature
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as error:
            refused = error.__cause__
            if not isinstance(refused, InvalidOperationTypeError):
                raise
            if refused.operation_type is OperationType.SUBSCRIPTION:
                raise HTTPRefusal(400, SUBSCRIPTIONS_NEED_WEBSOCKET, own_code="SUBSCRIPTION_NEEDS_WEBSOCKET") from None
            if request_adapter.method == "GET":
                raise HTTPRefusal(
                    405, "GET only runs queries: send mutations with POST", headers={"Allow": "POST"}
                ) from None
            raise
        finally:
            # graphql-core's execution context is in a reference cycle and holds this context:
            # the rows its loaders read (a heavy answer's hundreds of thousands of objects) are
            # let go now, not left to a pass of the garbage collector that stops the loop.
            context.refresh()

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        sub_response: Response = request.state.graphql_sub_response
        if _is_request_error(result):
            # The request never executed: GraphQL says such a result has no data entry.
            response.pop("data", None)
            if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
                sub_response.status_code = 400
        # Encoded here, not in create_response: this may wait for later turns of the event loop.
        try:
            sub_response.body = await encode_response(response, self.max_response_bytes)
        except ResponseTooLarge as error:
            logger.warning("a response larger than %d bytes was refused (%s)", error.limit_bytes, RESPONSE_TOO_LARGE)
            # Nothing of the answer is sent, so it is answered as a request that did not execute.
            sub_response.body = error_body(
                f"The response would be larger than the limit of {error.limit_bytes} bytes."
                " Ask for smaller pages or fewer fields.",
                BAD_REQUEST,
                **{OWN_CODE: RESPONSE_TOO_LARGE, "limitBytes": error.limit_bytes},
            )
            if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
                sub_response.status_code = 400
        # The execution context's cycle holds the result too: the answer's tree goes here, a
        # slice at a time, not with the garbage collector (nothing reads it once encoded).
        result.data = None
        await let_go(response.pop("data", None))
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        # The body process_result encoded.
        response = Response(
            sub_response.body,
            status_code=sub_response.status_code or 200,
            media_type=sub_response.media_type or APPLICATION_JSON,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        return response

    async def on_ws_connect(self, context: Context) -> None:
        payload = context.connection_params
        token = None
        if isinstance(payload, dict):
            token = bearer_token(payload.get("authorization") or payload.get("Authorization"))
            token = token or payload.get("token")
        token = token if isinstance(token, str) else None
        try:
            context.actor = await authenticate(token)
        except Unauthenticated as error:
            raise ConnectionRejectionError({"message": error.message, "code": error.code}) from None
        bind_log_fields(tenant_id=context.actor.tenant_id)
        context.token = token
        if context.actor.principal_id is not None:
            await self.open_connections.check(context.actor.principal_id)


def _decoded(data: str | bytes, what: str) -> Any:
    try:
        return decode_json(data, what)
    except MalformedJSON as error:
        raise HTTPRefusal(400, str(error), own_code=INVALID_INPUT) from None


def _is_request_error(result: ExecutionResult) -> bool:
    """The document did not parse or validate, or its variables did not fit: no field ran."""
    return result.data is None and bool(result.errors) and all(error.path is None for error in result.errors)


def _refusal_response(request: Request, error: HTTPException) -> Response:
    refusal = error if isinstance(error, HTTPRefusal) else HTTPRefusal(error.status_code, error.reason)
    media_type = response_media_type(request.headers.get("accept"))
    return Response(
        error_body(refusal.reason, refusal.code, **refusal.extensions),
        status_code=refusal.status_code,
        media_type=media_type,
        headers=refusal.headers,
    )

