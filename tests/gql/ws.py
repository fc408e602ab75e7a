"""A GraphQL-over-WebSocket client for the tests, speaking graphql-transport-ws by hand.

It is what a browser console or a bot does: open ``/graphql`` with the
``graphql-transport-ws`` subprotocol, send ``connection_init`` with the token,
``subscribe``, read ``next`` / ``error`` / ``complete``, answer pings.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")


class Rejected(Exception):
    """The server closed the connection instead of acknowledging it."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed with {code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Operation:
    id: str
    messages: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    completed: bool = False

    async def message(self, timeout: float = 30) -> dict[str, Any]:
        """The next ``next``, ``error`` or ``complete`` message of this operation."""
        try:
            return await asyncio.wait_for(self.messages.get(), timeout)
        except TimeoutError:
            raise AssertionError(f"operation {self.id}: no message within {timeout}s") from None

    async def data(self, timeout: float = 30) -> dict[str, Any]:
        """The data of the next ``next`` message; fails on anything else."""
        message = await self.message(timeout)
        assert message["type"] == "next" and not message["payload"].get("errors"), message
        return message["payload"]["data"]

    async def collect(
        self, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 60, what: str = ""
    ) -> list[dict[str, Any]]:
        """Data of ``next`` messages until ``until(received)`` holds; fails after ``timeout``."""
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not until(received):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or until}; got {received}")
            received.append(await self.data(timeout=left))
        return received

    def pending(self) -> list[dict[str, Any]]:
        """Messages already received and not read yet."""
        found = []
        while not self.messages.empty():
            found.append(self.messages.get_nowait())
        return found


class GraphQLWebSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.operations: dict[str, Operation] = {}
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> Operation:
        operation = Operation(str(next(self._ids)))
        self.operations[operation.id] = operation
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.connection.send(json.dumps({"id": operation.id, "type": "subscribe", "payload": payload}))
        return operation

    async def complete(self, operation: Operation) -> None:
        await self.connection.send(json.dumps({"id": operation.id, "type": "complete"}))

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await self.connection.send(json.dumps({"type": "pong"}))
                elif kind in ("next", "error", "complete") and message.get("id") in self.operations:
                    operation = self.operations[message["id"]]
                    operation.completed = kind in ("error", "complete")
                    operation.messages.put_nowait(message)
        except ConnectionClosed:
            pass

    async def close(self) -> None:
        await self.connection.close()
        self._reader.cancel()
        try:
            await self._reader
        except asyncio.CancelledError:
            pass


@asynccontextmanager
async def graphql_ws(
    url: str, token: str | None, payload: dict[str, Any] | None = None, timeout: float = 30
) -> AsyncIterator[GraphQLWebSocket]:
    """A connection acknowledged by the server; ``Rejected`` if it closes instead."""
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=timeout, max_queue=None) as connection:
        if payload is None:
            payload = {} if token is None else {"authorization": f"Bearer {token}"}
        await connection.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            reply = json.loads(await asyncio.wait_for(connection.recv(), timeout))
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            raise Rejected(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None
        assert reply["type"] == "connection_ack", reply
        client = GraphQLWebSocket(connection)
        try:
            yield client
        finally:
            await client.close()


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1).rstrip("/") + "/graphql"
