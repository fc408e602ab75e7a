"""GraphiQL at /graphql: served from the package under a same-origin policy, usable with a token."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from tests.console.conftest import Served, Tab

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
VIEWER = "{ viewer { name } }"


def assert_no_framing_and_same_origin_only(headers: httpx.Headers) -> None:
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy  # no 'unsafe-inline', no hash, no other origin
    assert "frame-ancestors 'none'" in policy
    assert headers["x-frame-options"] == "DENY"


def test_the_graphiql_page_and_its_files_come_from_this_origin(served: Served):
    page = httpx.get(f"{served.url}/graphql", headers=HTML)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_no_framing_and_same_origin_only(page.headers)
    assert not re.search(r"(https?:)?//", page.text), "the page names another origin"
    assert "<script>" not in page.text, "an inline script"
    files = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    assert any(name.endswith(".js") for name in files) and any(name.endswith(".css") for name in files)
    for name in files:
        asset = httpx.get(served.url + name)
        assert asset.status_code == 200, name
        assert_no_framing_and_same_origin_only(asset.headers)


def test_the_console_page_refuses_framing_too(served: Served):
    assert_no_framing_and_same_origin_only(httpx.get(f"{served.url}/", headers=HTML).headers)


def test_a_client_that_wants_json_still_reaches_the_api(served: Served):
    answer = httpx.get(
        f"{served.url}/graphql",
        params={"query": VIEWER},
        headers={**HTML, "authorization": f"Bearer {served.token}"},
    )

    assert answer.json() == {"data": {"viewer": {"name": served.api(VIEWER)["viewer"]["name"]}}}


def test_a_developer_runs_a_query_with_a_token_in_the_headers_editor(tab: Tab):
    refused: list[str] = []
    tab.page.on("console", lambda message: _note_refusal(message, refused))
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = tab.open("/graphql")
    name = tab.served.api(VIEWER)["viewer"]["name"]

    _paste_into(page, page.get_by_role("region", name="Operation Editor"), VIEWER)
    page.get_by_role("button", name="Headers").click()
    _paste_into(page, page.get_by_role("region", name="Headers"), f'{{"Authorization": "Bearer {tab.served.token}"}}')
    page.get_by_role("button", name=re.compile("Execute query")).click()

    expect(page.get_by_role("region", name="Result Window")).to_contain_text(f'"name": "{name}"')
    origin = urlsplit(tab.served.url).netloc
    assert all(urlsplit(url).netloc == origin for url in tab.requested if not url.startswith("data:"))
    assert not refused, refused


def _paste_into(page: Page, editor: Locator, text: str) -> None:
    """Replaces an editor's text as a user pasting it would: typed, Monaco would close brackets."""
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    # Monaco's text area lies under its rendered lines: focused, not clicked.
    editor.get_by_role("textbox").focus()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.press("ControlOrMeta+V")


def _note_refusal(message: ConsoleMessage, refused: list[str]) -> None:
    if "Content Security Policy" in message.text:
        refused.append(message.text)
