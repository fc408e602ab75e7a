"""The GraphQL WebSocket's bounds: message size, connections and subscriptions per principal,
and a token that stops working (revoked, or its principal's role changed) on connections it
already opened.

Strawberry's graphql-transport-ws handler reads messages of any size the server lets through
and keeps a connection authenticated for its whole life. Here a message is held to the size of
an HTTP body, and a principal's connections and active operations are counted in Redis, across
every API process of a deployment (``jobtower api --workers N`` included). Each connection and
each operation holds a lease there, a member of a sorted set scored by when it ends: the
process renews its leases every ``recheck_seconds`` and drops them when they close, so those of
a process that died end within ``LEASE_RECHECKS`` rechecks and free their places. Should Redis
be unreachable, connections and operations are let through (and the log says so), as
``jobtower.throttle`` lets requests through.

An operation of a connection that takes prepared frames (``gql.frames``) may have its shared
answers sent at once, in the stream hub's turn (``gql.fanout.LiveOperation``), while it is open.

Every ``recheck_seconds`` the tokens of this process's open connections are also checked again,
in one query: a token revoked or a role changed closes its connections with 4403, and the
client reconnects with what its token may now do.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncGenerator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage

from domain.access import Actor
from domain.tenants import current_actors
from gql.context import Context
from gql.fanout import LiveOperation, running
from gql.frames import frame_writer
from workers import keys

log = logging.getLogger("jobtower.api")

# Close codes: 1009 is WebSocket's own "message too big"; 4403 and 4429 follow
# graphql-transport-ws (forbidden, too many).
MESSAGE_TOO_BIG = 1009
FORBIDDEN = 4403
TOO_MANY = 4429

# A lease lasts this many rechecks: one late renewal does not lose it.
LEASE_RECHECKS = 3

# KEYS: a principal's leases. ARGV: now (ms), the new member, the limit, the lease (ms).
# Answers 1 when the member took a place, 0 when every place is held by a lease still running.
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[4], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class WebSocketLimits:
    max_message_bytes: int
    max_connections: int
    max_subscriptions: int
    recheck_seconds: float


class TooManyConnections(Exception):
    """The principal already holds as many connections as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"this token's principal already has {limit} open connections")


def _now_ms() -> int:
    return int(time.time() * 1000)


async def live_operations(redis: Redis) -> int:
    """The operations running over the WebSockets of every API process (subscriptions; a query
    or mutation sent over a socket while it runs): the leases that have not ended."""
    names = [name async for name in redis.scan_iter(match=keys.WEBSOCKET_OPERATIONS_PATTERN, count=1000)]
    if not names:
        return 0
    now = _now_ms()
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcount(name, f"({now}", "+inf")
        return sum(await pipe.execute())


@dataclass
class OpenConnections:
    """This process's acknowledged connections, by principal, their leases in Redis, and the one
    task that renews the leases and checks the tokens again every ``recheck_seconds``."""

    limits: WebSocketLimits
    redis: Redis
    by_principal: dict[int, set[TransportHandler]] = field(default_factory=lambda: defaultdict(set))
    _recheck: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._claim = self.redis.register_script(_CLAIM)

    @property
    def lease_ms(self) -> int:
        return int(self.limits.recheck_seconds * LEASE_RECHECKS * 1000)

    async def check(self, principal_id: int) -> None:
        """Refuses a principal whose connections, on every process, already fill its places."""
        key = keys.websocket_connections(principal_id)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                held = (await pipe.zremrangebyscore(key, "-inf", _now_ms()).zcard(key).execute())[1]
        except RedisError as error:
            log.warning("WebSocket connection limit not applied, Redis refused: %s", error)
            return
        if held >= self.limits.max_connections:
            raise TooManyConnections(self.limits.max_connections)

    async def open(self, principal_id: int, handler: TransportHandler) -> None:
        # Claimed whether or not ``check`` passed: another process may have taken the last place since.
        if not await self._claimed(keys.websocket_connections(principal_id), handler.lease, self.limits.max_connections):
            raise TooManyConnections(self.limits.max_connections)
        self.by_principal[principal_id].add(handler)
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.create_task(self._recheck_tokens())

    async def close(self, principal_id: int, handler: TransportHandler) -> None:
        held = self.by_principal.get(principal_id)
        if held is None or handler not in held:
            return
        held.discard(handler)
        if not held:
            del self.by_principal[principal_id]
        await self._release(keys.websocket_connections(principal_id), handler.lease)

    async def start_operation(self, principal_id: int, lease: str) -> bool:
        """Whether the principal may run one more operation; if so, ``lease`` holds its place."""
        return await self._claimed(keys.websocket_operations(principal_id), lease, self.limits.max_subscriptions)

    async def end_operation(self, principal_id: int, lease: str) -> None:
        await self._release(keys.websocket_operations(principal_id), lease)

    async def _claimed(self, key: str, lease: str, limit: int) -> bool:
        try:
            return bool(await self._claim(keys=[key], args=[_now_ms(), lease, limit, self.lease_ms]))
        except RedisError as error:
            log.warning("WebSocket limits not applied, Redis refused: %s", error)
            return True

    async def _release(self, key: str, lease: str) -> None:
        try:
            await self.redis.zrem(key, lease)
        except RedisError:
            pass  # it ends on its own

    async def _renew_leases(self) -> None:
        ends = _now_ms() + self.lease_ms
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for principal_id, held in self.by_principal.items():
                    connections = keys.websocket_connections(principal_id)
                    operations = keys.websocket_operations(principal_id)
                    for handler in held:
                        pipe.zadd(connections, {handler.lease: ends}, xx=True)
                        for lease in handler.operation_leases.values():
                            pipe.zadd(operations, {lease: ends}, xx=True)
                    pipe.pexpire(connections, self.lease_ms).pexpire(operations, self.lease_ms)
                await pipe.execute()
        except RedisError as error:
            log.warning("renewing the WebSocket leases failed, Redis refused: %s", error)

    async def _recheck_tokens(self) -> None:
        while self.by_principal:
            await asyncio.sleep(self.limits.recheck_seconds)
            # Renewed before the query: a slow database must not let the leases lapse.
            await self._renew_leases()
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
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # This connection's lease in Redis, and those of its running operations; counted once
        # the connection is acknowledged for a principal (``principal_id``).
        self.lease = uuid.uuid4().hex
        self.operation_leases: dict[Operation[Context, None], str] = {}
        self.principal_id: int | None = None

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
        if not self.connection_acknowledged or actor is None or actor.principal_id is None or self.principal_id:
            return
        try:
            await self.connections.open(actor.principal_id, self)
        except TooManyConnections as refused:
            self.connection_acknowledged = False
            await self.websocket.close(code=TOO_MANY, reason=str(refused))
            return
        self.principal_id = actor.principal_id

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        principal_id = self.principal_id
        if principal_id is None or not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_subscribe(message)  # refused there, or not counted
            return
        lease = f"{self.lease}:{uuid.uuid4().hex}"
        if not await self.connections.start_operation(principal_id, lease):
            limit = self.connections.limits.max_subscriptions
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
        # The operation's task has not run yet: it finds its lease when it ends.
        self.operation_leases[self.operations[message["id"]]] = lease

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        frames = frame_writer(self.websocket.ws.scope)
        live = None if frames is None else LiveOperation(
            frames, operation.id, lambda: not operation.completed and self.operations.get(operation.id) is operation
        )
        try:
            with running(live):
                await super().run_operation(operation)
        finally:
            # However it ends: its last result, an error, the connection closing.
            await self._end(operation)

    async def cleanup_operation(self, operation_id: str) -> None:
        operation = self.operations.get(operation_id)
        await super().cleanup_operation(operation_id)
        if operation is not None:
            # Before the connection's next message: a subscribe right after a complete finds the
            # place free, not held until the canceled task gets to run.
            await self._end(operation)

    async def _end(self, operation: Operation[Context, None]) -> None:
        lease = self.operation_leases.pop(operation, None)
        if lease is not None and self.principal_id is not None:
            await self.connections.end_operation(self.principal_id, lease)

    async def shutdown(self) -> None:
        if self.principal_id is not None:
            await self.connections.close(self.principal_id, self)
        await super().shutdown()
