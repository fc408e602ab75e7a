"""The GraphQL WebSocket's bounds: message size, connections and subscriptions per principal,
and a token that stops working (revoked, or its principal's role changed) on connections it
already opened.

Strawberry's graphql-transport-ws handler reads messages of any size the server lets through
and keeps a connection authenticated for its whole life. Here a message is held to the size of
an HTTP body, a principal's connections and active operations are counted across the
connections of this API process, and the tokens of all open connections are checked again
every few seconds, in one query: a token revoked or a role changed closes its connections with
4403, and the client reconnects with what its token may now do.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncGenerator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage

from domain.access import Actor
from domain.tenants import current_actors
from gql.context import Context

log = logging.getLogger("jobtower.api")

# Close codes: 1009 is WebSocket's own "message too big"; 4403 and 4429 follow
# graphql-transport-ws (forbidden, too many).
MESSAGE_TOO_BIG = 1009
FORBIDDEN = 4403
TOO_MANY = 4429


@dataclass(frozen=True)
class WebSocketLimits:
    max_message_bytes: int
    max_connections: int
    max_subscriptions: int
    recheck_seconds: float


class TooManyConnections(Exception):
    """The principal already holds as many connections as it may."""


@dataclass
class OpenConnections:
    """This process's acknowledged connections, by principal, and the one task that checks
    their tokens again: one query every ``recheck_seconds`` for all of them."""

    limits: WebSocketLimits
    by_principal: dict[int, set[TransportHandler]] = field(default_factory=lambda: defaultdict(set))
    _recheck: asyncio.Task[None] | None = None

    def check(self, principal_id: int) -> None:
        limit = self.limits.max_connections
        if len(self.by_principal.get(principal_id, ())) >= limit:
            raise TooManyConnections(f"this token's principal already has {limit} open connections")

    def open(self, principal_id: int, handler: TransportHandler) -> None:
        # Checked again: another connection_init of the principal may have been answered meanwhile.
        self.check(principal_id)
        self.by_principal[principal_id].add(handler)
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.create_task(self._recheck_tokens())

    def close(self, principal_id: int, handler: TransportHandler) -> None:
        held = self.by_principal.get(principal_id)
        if held is None:
            return
        held.discard(handler)
        if not held:
            del self.by_principal[principal_id]

    def operations(self, principal_id: int) -> int:
        return sum(len(handler.operations) for handler in self.by_principal.get(principal_id, ()))

    async def _recheck_tokens(self) -> None:
        while self.by_principal:
            await asyncio.sleep(self.limits.recheck_seconds)
            handlers = [handler for held in self.by_principal.values() for handler in held]
            try:
                actors = await current_actors({handler.context.token for handler in handlers if handler.context.token})
            except Exception:  # a database hiccup: keep the connections, check again next time
                log.exception("rechecking the tokens of WebSocket connections failed")
                continue
            for handler in handlers:
                acting = handler.context.actor
                if acting is None or handler not in self.by_principal.get(acting.principal_id or 0, ()):
                    continue  # closed meanwhile
                now = actors.get(handler.context.token or "")
                if now is None:
                    reason = "the token was revoked"
                elif _who(now) != _who(acting):
                    reason = "the token's role changed: reconnect"
                else:
                    continue
                with suppress(Exception):  # the client may be gone already: nothing left to close
                    await handler.websocket.close(code=FORBIDDEN, reason=reason)


def _who(actor: Actor) -> tuple[int, Any, int | None]:
    """What a recheck compares: the same principal, in the same tenant, with the same role."""
    return actor.tenant_id, actor.role, actor.principal_id


class SizedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, refusing a message larger than an HTTP body may be (1009)."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        limit = self.view.websocket_limits.max_message_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                # A character is at most 4 bytes: most messages are measured without encoding them.
                if len(text) * 4 > limit and len(text.encode()) > limit:
                    await self.ws.close(code=MESSAGE_TOO_BIG, reason=f"message larger than {limit} bytes")
                    return
                try:
                    message = self.view.decode_json(text)
                except ValueError as error:
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from error
                yield message
        except KeyError as error:
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass


class TransportHandler(BaseGraphQLTransportWSHandler[Context, None]):
    @property
    def connections(self) -> OpenConnections:
        return self.view.open_connections

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManyConnections as refused:  # from the view's on_ws_connect, before any ack
            await self.websocket.close(code=TOO_MANY, reason=str(refused))
            return
        actor = self.context.actor
        if not self.connection_acknowledged or actor is None or actor.principal_id is None:
            return
        try:
            self.connections.open(actor.principal_id, self)
        except TooManyConnections as refused:
            self.connection_acknowledged = False
            await self.websocket.close(code=TOO_MANY, reason=str(refused))

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        actor = self.context.actor
        limit = self.connections.limits.max_subscriptions
        if (
            self.connection_acknowledged
            and actor is not None
            and actor.principal_id is not None
            and self.connections.operations(actor.principal_id) >= limit
        ):
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [
                        {
                            "message": f"this token's principal already has {limit} active subscriptions",
                            "extensions": {
                                "code": "RATE_LIMITED",
                                "jobtowerCode": "TOO_MANY_SUBSCRIPTIONS",
                                "limit": limit,
                            },
                        }
                    ],
                }
            )
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        actor = self.context.actor
        if actor is not None and actor.principal_id is not None:
            self.connections.close(actor.principal_id, self)
        await super().shutdown()
