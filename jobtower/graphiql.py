"""GraphiQL at ``/graphql`` for a browser: a GET that asks for HTML and carries no query.

Its page and files are built with the console (``scripts/build-console``, a second page of
the same Vite build) and served from the package: nothing loads from another origin, so it
works offline and under the console's Content-Security-Policy, with one allowance for its
editor's styles (``content_security_policy``): scripts stay files of this origin. Every other
request at ``/graphql`` is the API's.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from jobtower.console.routes import DIST, NOT_BUILT, page_headers

PAGE = DIST / "graphiql.html"


def wants_page(request: Request) -> bool:
    """A browser opening ``/graphql``; a GET that names a query is a GraphQL request."""
    return (
        request.method in {"GET", "HEAD"}
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


class GraphiQLPage:
    """The page for a browser, the API (``api``) for everything else."""

    def __init__(self, api: ASGIApp) -> None:
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        if scope["type"] != "http" or not wants_page(request):
            await self.api(scope, receive, send)
            return
        response: Response
        headers = page_headers(request, editor_styles=True)
        if PAGE.is_file():
            response = FileResponse(PAGE, media_type="text/html", headers=headers)
        else:
            response = HTMLResponse(NOT_BUILT, status_code=503, headers=headers)
        await response(scope, receive, send)
