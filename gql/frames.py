"""WebSocket text frames written straight to the connection, for answers prepared once.

A live event reaches a thousand subscribers as the same few hundred bytes, but
through the ASGI ``send`` each copy takes its own trip: a message dict, the
middlewares' wrappers, uvicorn's protocol, the websockets library building and
serializing a frame. A server's frames are not masked, so a frame is only a
header and the message: prepared here (``text_frame``) from bytes encoded once,
and written to the transport of a connection uvicorn's ``websockets-sansio``
protocol serves (``FrameWriter``), which is what ``jobtower api`` runs. Anything
else (another protocol class, a negotiated extension such as per-message
compression, a connection closing or whose writes are paused) is refused, and
the caller sends through ASGI as usual.

``FrameWriters`` is the ASGI middleware, outermost of the app's own, that sees
uvicorn's ``send`` before anything wraps it and hands a writer to the WebSocket
scope (``frame_writer``).
"""

from __future__ import annotations

import struct

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

_SCOPE_KEY = "jobtower.frame_writer"
_FIN_TEXT = 0x81


def text_frame(*parts: bytes) -> bytes:
    """One unfragmented, unmasked text frame of ``parts`` (UTF-8)."""
    body = b"".join(parts)
    size = len(body)
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + body


class FrameWriter:
    """Writes prepared frames to one connection of uvicorn's websockets-sansio protocol."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def write(self, frames: bytes) -> bool:
        """Whether ``frames`` were written; False (nothing written) when they must go through ASGI."""
        protocol = self._protocol
        if (
            not protocol.handshake_complete
            or protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()  # the client reads slowly: ASGI's send waits for it
            or protocol.conn.state is not State.OPEN
            or protocol.conn.extensions  # frames would have to be compressed
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(frames)
        return True


def frame_writer(scope: Scope) -> FrameWriter | None:
    """The writer of a WebSocket scope, when its connection can take prepared frames."""
    return scope.get(_SCOPE_KEY)


class FrameWriters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if isinstance(protocol, WebSocketsSansIOProtocol):
                scope[_SCOPE_KEY] = FrameWriter(protocol)
        await self.app(scope, receive, send)
