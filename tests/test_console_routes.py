"""A checkout whose console was never built still answers ``/`` with a page that says what to do."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from jobtower.console import routes


async def test_an_unbuilt_console_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(routes, "INDEX", tmp_path / "never-built" / "index.html")
    transport = httpx.ASGITransport(app=Starlette(routes=routes.console_routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        page = await client.get("/jobs", headers={"accept": "text/html"})

    assert page.status_code == 503
    assert "The console is not built" in page.text and "make serve" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
