"""uvicorn's HTTP/1.1 protocol (h11), with the limits a server facing careless clients needs.

- A request head (request line and headers) is buffered up to the longest URL the API takes
  plus ``MAX_HEADER_BYTES``, and the connection is refused past it, before the app or a token
  check sees it: 414 while the request line has not ended, else 431. h11 holds no more than
  that per connection, whatever is sent; ``HeaderSizeLimit`` refuses smaller heads whose
  headers alone pass ``MAX_HEADER_BYTES``.
- A request must arrive whole, head and body, within ``read_seconds`` of its first byte; a connection whose head or body never ends (slowloris) gets 408 and is closed.
- Any other malformed request gets a 400 with a JSON body instead of uvicorn's plain text.

Each refusal is a GraphQL-shaped JSON body, as the API's other refusals are. WebSocket
connections leave this protocol at the upgrade.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from gql.http import APPLICATION_JSON, STATUS_CODES, error_body
from jobtower.limits import MAX_HEADER_BYTES
from jobtower.settings import settings

# How long a refused connection is read (and its bytes dropped) before it is closed.
LINGER_SECONDS = 2.0
REASONS = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


class GuardedH11Protocol(H11Protocol):
    """uvicorn's ``http`` protocol with the environment's limits: a class of this module, so each
    of ``jobtower api --workers N``'s processes finds it by name."""

    max_url_bytes = settings.max_request_bytes
    max_head_bytes = max_url_bytes + MAX_HEADER_BYTES
    read_seconds = settings.request_read_seconds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head_bytes)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._request_line_ended = False
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what a refused client still sends is read and dropped (see _refuse)
        awaiting_head, cycle = self.conn.their_state is h11.IDLE, self.cycle
        if awaiting_head:
            self._request_line_ended = self._request_line_ended or b"\n" in data
            self._start_read_deadline()
        super().data_received(data)
        state = self.conn.their_state
        # Still reading this request: its body, or its head (no request began meanwhile).
        if state is h11.SEND_BODY or (state is h11.IDLE and awaiting_head and self.cycle is cycle):
            return
        self._stop_read_deadline()
        self._request_line_ended = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        # A connection that never sends a byte is as slow as one that never ends its head.
        self._start_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_deadline()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to whatever h11 refuses; h11 refuses a head past its buffer.
        self._stop_read_deadline()
        if len(self.conn.trailing_data[0]) > self.max_head_bytes:
            if self._request_line_ended:
                self._refuse(431, f"the request headers are larger than {MAX_HEADER_BYTES} bytes",
                             limitBytes=MAX_HEADER_BYTES)
            else:
                self._refuse(414, f"the URL is longer than {self.max_url_bytes} bytes", limitBytes=self.max_url_bytes)
        else:
            self._refuse(400, "the request is not valid HTTP/1.1")

    def _read_too_slow(self) -> None:
        self._read_deadline = None
        if self.transport.get_protocol() is not self:  # upgraded to a WebSocket
            return
        self._refuse(408, f"the request did not arrive within {self.read_seconds:g} seconds")

    def _start_read_deadline(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_seconds, self._read_too_slow)

    def _stop_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _refuse(self, status: int, message: str, **extensions: Any) -> None:
        """Answers and closes, whatever state h11 is in (it may have refused the request)."""
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started and self.conn.their_state is not h11.IDLE:
            # This request has its answer (the app may answer before reading the body).
            self.transport.close()
            return
        self.logger.warning("refused a request: %s", message)
        body = error_body(message, STATUS_CODES.get(status, "BAD_REQUEST"), **extensions)
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\n"
            f"content-type: {APPLICATION_JSON}\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        # Closing now would reset the connection under a client still sending, whose system
        # then drops the answer unread: end our side, drop what comes, close a little later.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)



