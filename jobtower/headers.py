"""Headers every HTTP answer carries, whichever route gave it.

Browsers must not guess another type than the one declared (``nosniff``), and an API answer,
which holds a tenant's data, must not be kept by a browser or a proxy: ``no-store`` unless the
route chose its own caching (the console's page and its hashed assets).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


class DefaultHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_defaults(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in DEFAULT_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_defaults)
