"""Serving the web console: its page at ``/`` and at every console route, its hashed assets.

The page is one ``index.html`` answered for any GET that wants HTML and is no API path, so a
deep link or a reload lands on the same screen. It is never cached (a new build is picked up
at once); the assets it names carry a content hash and are cached for a year. A strict
Content-Security-Policy allows nothing but this origin: no inline script or style, no CDN, and
no framing (``frame-ancestors``, and ``X-Frame-Options`` for browsers that predate it). The same
build holds GraphiQL's page (``jobtower.graphiql``), served with the same headers.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DIST = Path(__file__).parent / "dist"
INDEX = DIST / "index.html"

PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Jobtower: console not built</title></head>
<body><h1>The console is not built</h1>
<p>This Jobtower was installed from a checkout without building its web console.
In the checkout, <code>make serve</code> builds it (it needs Node, which it installs if it is
missing), or build it alone with <code>bash scripts/build-console</code>, then reload this page.</p>
<p>The API answers at <code>/graphql</code> meanwhile.</p></body></html>
"""


def content_security_policy(request: Request, *, editor_styles: bool = False) -> str:
    """This origin only. ``editor_styles`` is what GraphiQL's editor needs, for styles alone:
    Monaco writes style attributes and elements at run time, and GraphiQL's stylesheet embeds
    its fonts as ``data:`` URLs. Scripts come from this origin's files either way."""
    # 'self' covers same-origin WebSockets in current browsers; the ws: URL is named too for
    # those that read the CSP2 rule (http(s) sources only).
    socket = f"{'wss' if request.url.scheme == 'https' else 'ws'}://{request.url.netloc}"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'" if editor_styles else "style-src 'self'",
            "font-src 'self' data:" if editor_styles else "font-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {socket}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def page_headers(request: Request, *, editor_styles: bool = False) -> dict[str, str]:
    return {
        "Cache-Control": PAGE_CACHE,
        "Content-Security-Policy": content_security_policy(request, editor_styles=editor_styles),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


async def console_page(request: Request) -> Response:
    if "text/html" not in request.headers.get("accept", "") and request.url.path != "/":
        # Not a browser opening a page: an unknown API or file path stays a plain 404.
        return PlainTextResponse("Not Found", status_code=404)
    if not INDEX.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers=page_headers(request))
    return FileResponse(INDEX, media_type="text/html", headers=page_headers(request))


class HashedAssets(StaticFiles):
    """Vite's output: a file's name changes with its content, so browsers may keep it forever."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = ASSET_CACHE
        response.headers["X-Content-Type-Options"] = "nosniff"
        # A worker script (GraphiQL's editors) runs under the policy of its own response.
        response.headers["Content-Security-Policy"] = content_security_policy(Request(scope))
        response.headers["X-Frame-Options"] = "DENY"
        return response


def console_routes() -> list[BaseRoute]:
    """Mounted after every API route: the page route answers whatever path they leave."""
    return [
        Mount("/assets", HashedAssets(directory=DIST / "assets", check_dir=False), name="console-assets"),
        Route("/{path:path}", console_page, methods=["GET", "HEAD"], name="console"),
    ]
