"""A real ``jobtower serve`` and the system's Chromium, driven by Playwright from PyPI.

One server and one browser serve this folder's tests (each test starts jobs of its own,
named after it); each test gets a fresh browser context that records every request its
pages make. They are package-scoped: Playwright's sync API runs an event loop of its own,
which must be gone before the suite's asyncio tests run.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.cli import clean_environment, console_script
from tests.services import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_SECONDS = 60
# What the user waits for at most before a test gives up on seeing it.
SEEN_MS = 15_000

START_JOB = """
mutation ($input: StartJobInput!) { startJob(input: $input) {
  ... on JobStarted { job { id } }
  ... on Error { code message }
} }
"""
JOB = "query ($id: ID!) { job(id: $id) { status progress { done total } } }"

expect.set_options(timeout=SEEN_MS)


def eventually(check: Callable[[], Any], what: str, timeout: float = SEEN_MS / 1000) -> Any:
    """Polls the API until `check` answers truthy (the server's side of a wait, never the page's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer := check():
            return answer
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def finished(served: Served, job_id: str, timeout: float = SEEN_MS / 1000) -> dict[str, Any]:
    return eventually(
        lambda: (job := served.job(job_id))["status"] == "FINISHED" and job, "the job to finish", timeout
    )


def screenshots_folder() -> Path:
    """Where the screenshots go; CI keeps this folder as an artifact."""
    return Path(os.environ.get("JOBTOWER_SCREENSHOTS") or REPO / ".ci" / "artifacts" / "screenshots")


@dataclass
class Served:
    """``jobtower serve`` on a port of its own, and its demo admin token."""

    url: str
    token: str
    log: Path
    data: Path

    def api(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def start_job(self, name: str, job_type: str = "noop", token: str | None = None, **params: Any) -> str:
        """Starts a job as the principal of ``token`` (the admin's by default); its id."""
        chunk_size = params.pop("chunkSize", None)
        started = self.api(
            START_JOB,
            {"input": {"type": job_type, "name": name, "params": params, "chunkSize": chunk_size}},
            token=token,
        )["startJob"]
        assert "job" in started, started
        return started["job"]["id"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self.api(JOB, {"id": job_id})["job"]

    def cli(self, *args: str) -> str:
        """``jobtower ARGS`` on this server's data (tenants, tokens); its stdout."""
        done = subprocess.run(
            [console_script("jobtower"), *args],
            env=clean_environment() | {"JOBTOWER_DATA_DIR": str(self.data)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("console-serve")
    port = free_port()
    log = folder / "serve.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [console_script("jobtower"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=clean_environment() | {"JOBTOWER_DATA_DIR": str(folder / "data")},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for_port(port, timeout=START_SECONDS)
        token = re.search(r"Admin token for tenant demo: (\S+)", log.read_text())
        assert token, log.read_text()
        yield Served(url=f"http://127.0.0.1:{port}", token=token.group(1), log=log, data=folder / "data")
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (scripts/install-test-deps installs it)")
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@dataclass
class Tab:
    """A page in a fresh context, with every URL it requested (HTTP and WebSocket)."""

    page: Page
    context: BrowserContext
    served: Served
    requested: list[str] = field(default_factory=list)

    def open(self, path: str = "/") -> Page:
        self.page.goto(self.served.url + path)
        return self.page

    def sign_in(self, path: str = "/", token: str | None = None, role: str = "ADMIN") -> Page:
        page = self.open(path)
        page.get_by_label("API token").fill(token or self.served.token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_label("Signed in as")).to_contain_text(role)
        return page

    def runs(self):
        return self.page.get_by_role("list", name="Runs").get_by_role("listitem")

    def run(self, name: str):
        return self.page.get_by_role("listitem", name=name, exact=True)


def _tab(browser: Browser, served: Served, **options: Any) -> Iterator[Tab]:
    context = browser.new_context(base_url=served.url, **options)
    page = context.new_page()
    tab = Tab(page=page, context=context, served=served)
    page.on("request", lambda request: tab.requested.append(request.url))
    page.on("websocket", lambda socket: tab.requested.append(socket.url))
    yield tab
    context.close()


@pytest.fixture
def tab(browser: Browser, served: Served) -> Iterator[Tab]:
    yield from _tab(browser, served, viewport={"width": 1280, "height": 800})


@pytest.fixture
def open_tab(browser: Browser, served: Served):
    """Tabs with the given context options (viewport, colour scheme), closed after the test."""
    opened: list[Iterator[Tab]] = []

    def make(**options: Any) -> Tab:
        tabs = _tab(browser, served, **options)
        opened.append(tabs)
        return next(tabs)

    yield make
    for tabs in opened:
        next(tabs, None)


def pytest_terminal_summary(terminalreporter) -> None:
    folder = screenshots_folder()
    if folder.is_dir() and any(folder.glob("*.png")):
        terminalreporter.write_line(f"console screenshots: {folder}")
