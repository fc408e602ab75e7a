"""Clients that ride out a restarted API process, as the console and a bot do.

A ``Subscriber`` follows one job's ``jobUpdated`` over the real WebSocket client
(``tests.gql.ws``). When its connection drops it connects again, to the process it was on or
else to the next one, and resumes after the last ``seq`` it received. A ``Requester`` sends one
GraphQL query at a steady pace, each request to the next process, as a load balancer would; a
request whose connection failed goes to the next process. Both keep every answer and count,
apart from those reconnects, what a user would call an error. Their loops end by themselves:
bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import msgspec
from websockets.exceptions import WebSocketException

from domain.statuses import EventKind
from gql.http import GRAPHQL_RESPONSE_JSON
from tests.gql.ws import GraphQLWebSocket, Operation, Rejected, graphql_ws

JOB_UPDATED = """
subscription($id: ID!, $afterSeq: Int) {
  jobUpdated(id: $id, afterSeq: $afterSeq) { seq kind at job { status progress { done total } } }
}"""
# How long a client tries to connect again before it calls the API gone.
RECONNECT_SECONDS = 60.0
# A pause between two rounds over every process, so that a client does not spin while all refuse.
RECONNECT_PAUSE_SECONDS = 0.05
# A request not answered in this long counts as an error.
REQUEST_TIMEOUT_SECONDS = 10.0
# The most connections one subscriber makes: a restart costs one.
MAX_CONNECTIONS = 100


@dataclass(frozen=True)
class Delivery:
    received: float  # time.time() when it arrived
    event: dict[str, Any]  # the jobUpdated payload
    connection: int  # which of the subscriber's connections brought it: 0, then 1 after a reconnect…

    @property
    def is_progress(self) -> bool:
        return self.event["kind"] == EventKind.PROGRESS.value


@dataclass
class Subscriber:
    """``jobUpdated`` of ``job_id``, connected to ``urls[0]`` first."""

    urls: Sequence[str]
    token: str
    job_id: str
    deliveries: list[Delivery] = field(default_factory=list)
    # The process of each connection it made: one, plus one per reconnect.
    connections: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # The longest it follows the job.
    seconds: float = 600.0

    @property
    def last_seq(self) -> int:
        return self.deliveries[-1].event["seq"] if self.deliveries else 0

    def status_seqs(self) -> list[int]:
        """The seq of every event but progress, which repeats the seq of the event it follows."""
        return [delivery.event["seq"] for delivery in self.deliveries if not delivery.is_progress]

    def back_at(self, connection: int) -> float | None:
        """When the first event came over its ``connection``-th connection, if one did."""
        return next((d.received for d in self.deliveries if d.connection == connection), None)

    async def run(self) -> None:
        """Follow the job for ``seconds`` (or until cancelled): connect, subscribe after the last
        seq, read; again after a drop, at most ``MAX_CONNECTIONS`` times."""
        at = 0
        try:
            async with asyncio.timeout(self.seconds):
                while len(self.connections) < MAX_CONNECTIONS:
                    async with AsyncExitStack() as stack:
                        connected = await self._connect(stack, at)
                        if connected is None:
                            return
                        at, ws = connected
                        self.connections.append(self.urls[at])
                        await self._follow(ws, self.urls[at])
                    # The process went away (a restart): the same one again first, then the others.
                self._error(f"the connection dropped {MAX_CONNECTIONS} times")
        except TimeoutError:
            return  # followed as long as it was meant to

    async def _connect(self, stack: AsyncExitStack, at: int) -> tuple[int, GraphQLWebSocket] | None:
        """The process that took the connection (its index in ``urls``) and the connection."""
        deadline = time.monotonic() + RECONNECT_SECONDS
        while time.monotonic() < deadline:
            for offset in range(len(self.urls)):
                which = (at + offset) % len(self.urls)
                try:
                    ws = await stack.enter_async_context(graphql_ws(self.urls[which], self.token, timeout=5))
                except (OSError, TimeoutError, WebSocketException):
                    continue  # not listening (yet), or it closed while we knew no better
                except Rejected as refused:
                    self._error(f"{self.urls[which]} refused the connection: {refused}")
                    continue
                return which, ws
            await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
        self._error(f"no API process took the connection within {RECONNECT_SECONDS} s")
        return None

    async def _follow(self, ws: GraphQLWebSocket, url: str) -> None:
        try:
            operation = await ws.subscribe(JOB_UPDATED, {"id": self.job_id, "afterSeq": self.last_seq})
        except WebSocketException:
            return  # closed right after it was acknowledged
        closed = asyncio.ensure_future(ws.connection.wait_closed())
        try:
            while True:
                message = await _next_message(operation, closed)
                if message is None:
                    return
                if message["type"] != "next" or message["payload"].get("errors"):
                    self._error(f"{url}: {message}")
                    return
                event = message["payload"]["data"]["jobUpdated"]
                self.deliveries.append(Delivery(time.time(), event, len(self.connections) - 1))
                self.changed.set()
        finally:
            closed.cancel()
            await asyncio.gather(closed, return_exceptions=True)

    def _error(self, what: str) -> None:
        self.errors.append(what)
        self.changed.set()

    async def wait_for(self, seq: int, timeout: float) -> None:
        """Until an event of ``seq`` (or later) arrived; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.last_seq < seq and not self.errors:
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"subscriber of {self.job_id}: no event {seq} within {timeout}s, last {self.last_seq}")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                continue


async def _next_message(operation: Operation, closed: asyncio.Future[None]) -> dict[str, Any] | None:
    """The operation's next message, or None once the connection closed."""
    if not operation.messages.empty():
        return operation.messages.get_nowait()
    waiting = asyncio.ensure_future(operation.messages.get())
    try:
        await asyncio.wait({waiting, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not waiting.done():
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
    return None if waiting.cancelled() else waiting.result()


@dataclass
class Requester:
    """``query`` sent ``per_second`` times a second, at most ``requests`` times and for ``seconds``."""

    urls: Sequence[str]
    token: str
    query: str
    variables: dict[str, Any]
    per_second: float
    requests: int
    seconds: float
    # Each answer's process (its base URL) and milliseconds, in order.
    answers: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Requests sent again to another process because their connection failed.
    reconnects: int = 0

    @property
    def latencies_ms(self) -> list[float]:
        return [ms for _, ms in self.answers]

    async def run(self) -> None:
        headers = {
            "authorization": f"Bearer {self.token}", "accept": GRAPHQL_RESPONSE_JSON, "content-type": "application/json"
        }
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        async with AsyncExitStack() as stack:
            sessions = [
                await stack.enter_async_context(aiohttp.ClientSession(url, headers=headers, timeout=timeout))
                for url in self.urls
            ]
            began = time.monotonic()
            for number in range(self.requests):
                if time.monotonic() - began >= self.seconds:
                    return
                await self._send(sessions, number)
                await asyncio.sleep(max(0.0, began + (number + 1) / self.per_second - time.monotonic()))

    async def _send(self, sessions: list[aiohttp.ClientSession], number: int) -> None:
        deadline = time.monotonic() + RECONNECT_SECONDS
        attempt = 0
        body = msgspec.json.encode({"query": self.query, "variables": self.variables})
        while time.monotonic() < deadline:
            which = (number + attempt) % len(sessions)
            session, url = sessions[which], self.urls[which]
            attempt += 1
            sent = time.monotonic()
            try:
                async with session.post("/graphql", data=body) as response:
                    status, answer = response.status, await response.read()
            except TimeoutError as error:
                self.errors.append(f"{url}: {type(error).__name__}")
                return
            except aiohttp.ClientError:
                self.reconnects += 1  # that process is going or gone: the next one takes it
                if attempt % len(sessions) == 0:
                    await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
                continue
            self.answers.append((url, (time.monotonic() - sent) * 1000))
            if status != 200 or "errors" in msgspec.json.decode(answer):
                self.errors.append(f"{url}: {status} {answer[:300].decode(errors='replace')}")
            return
        self.errors.append(f"no API process answered within {RECONNECT_SECONDS} s")


class Client(Protocol):
    async def run(self) -> None: ...


@asynccontextmanager
async def running(clients: Sequence[Client]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """The clients' loops run in tasks while the block runs; cancelled afterwards."""
    tasks = [asyncio.create_task(client.run()) for client in clients]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failures = [result for result in results if isinstance(result, Exception)]
        if failures:
            raise failures[0]
