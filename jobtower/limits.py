"""Size limits: the headers of every request (431), and in front of ``/graphql`` the body (413).

Headers past ``MAX_HEADER_BYTES`` in all are refused before any route or token check runs
(the server protocol, jobtower.http_protocol, bounds what it buffers of a head to begin with).

A declared ``Content-Length`` over the limit is refused without reading the
body; a chunked body is counted as it arrives and refused as soon as it passes
the limit. The server discards the rest (closing at once would reset the
connection under a client still sending, and it would never see the 413).
A GET query travels in the URL, so the URL has the same limit (414).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.http import error_body, response_media_type

DEFAULT_MAX_BODY_BYTES = 64 * 1024
# Headers a request may carry in all (the URL has the body's limit).
MAX_HEADER_BYTES = 64 * 1024


class HeaderSizeLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and sum(len(name) + len(value) for name, value in scope["headers"]) > MAX_HEADER_BYTES:
            await _refuse(
                scope, send, 431, f"the request headers are larger than {MAX_HEADER_BYTES} bytes", MAX_HEADER_BYTES
            )
            return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if len(scope.get("query_string", b"")) > self.max_bytes:
            await _refuse(scope, send, 414, f"the URL is longer than {self.max_bytes} bytes", self.max_bytes)
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(scope, send, 413, self._body_message, self.max_bytes)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLarge:
            if started:  # too late for a status; the client sees the connection end
                raise
            await _refuse(scope, send, 413, self._body_message, self.max_bytes)

    @property
    def _body_message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"


async def _refuse(scope: Scope, send: Send, status: int, message: str, limit_bytes: int) -> None:
    body = error_body(message, "REQUEST_TOO_LARGE", limitBytes=limit_bytes)
    media_type = response_media_type(Headers(scope=scope).get("accept"))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
