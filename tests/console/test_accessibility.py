"""Every screen of the console, in both colour schemes, scanned by axe-core: no violations.

The console's theme follows the system's colour scheme, so each scan runs in a context that
emulates light or dark. A scan waits until the screen shows what it is about (its headings,
rows, charts), so axe judges the drawn page rather than a loading state.
"""

from __future__ import annotations

from collections.abc import Callable
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.console.conftest import Served, Tab, finished, screenshots_folder

AXE = Axe()
SCHEMES = ("light", "dark")
RECORD_OF = "query ($id: ID!) { job(id: $id) { records(first: 1, status: [FAILED]) { edges { node { id } } } } }"


@pytest.fixture(scope="module")
def shown(served: Served) -> dict[str, str]:
    """A finished job with failed records and a log, and a campaign with children."""
    with_errors = served.start_job("a11y errors", records=40, steps=2, failRate=0.3, chunkSize=10)
    campaign = served.start_job("a11y campaign", job_type="campaign_sequence", contacts=6, latencyScale=0)
    finished(served, with_errors, timeout=60)
    finished(served, campaign, timeout=60)
    record = served.api(RECORD_OF, {"id": with_errors})["job"]["records"]["edges"][0]["node"]["id"]
    return {"job": with_errors, "campaign": campaign, "record": record}


def sign_in_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.open("/")
    expect(page.get_by_label("API token")).to_be_visible()
    return page


def jobs_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in(f"/jobs?q=a11y&run={shown['job']}")
    expect(tab.run("a11y errors")).to_be_visible()
    expect(page.get_by_role("table", name="Records of a11y errors").get_by_role("link").first).to_be_visible()
    return page


def shortcuts_help(tab: Tab, shown: dict[str, str]) -> Page:
    page = jobs_screen(tab, shown)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    return page


def job_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in(f"/jobs/{shown['job']}?records=FAILED")
    expect(page.get_by_role("group", name="Chunk map").get_by_role("button")).to_have_count(4)
    expect(page.get_by_role("table", name="Failed records").get_by_role("link").first).to_be_visible()
    expect(page.get_by_role("table", name="History").get_by_role("row").nth(1)).to_be_visible()
    expect(page.get_by_role("list", name="Log").get_by_role("listitem").first).to_be_visible()
    return page


def parent_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in(f"/jobs/{shown['campaign']}")
    expect(page.get_by_role("tree").get_by_role("treeitem").first).to_be_visible()
    return page


def record_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in(f"/records/{shown['record']}")
    expect(page.get_by_role("list", name="Steps").get_by_role("listitem").first).to_be_visible()
    return page


def statistics_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in("/statistics")
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    # The charts' table twins are scanned too.
    shows = page.get_by_role("button", name="Show table")
    expect(shows.first).to_be_visible()
    for _ in range(shows.count()):
        shows.first.click()
    expect(page.get_by_role("table").first).to_be_visible()
    return page


def ops_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in("/ops")
    expect(page.get_by_role("region", name="Jobs by status")).to_be_visible()
    expect(page.get_by_role("status", name="Updates")).to_have_text("Live")
    return page


def automations_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in("/automations")
    expect(page.get_by_role("heading", name="Automations", level=1)).to_be_visible()
    return page


def admin_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in("/admin")
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    expect(page.get_by_role("table").first).to_be_visible()
    return page


def not_found_screen(tab: Tab, shown: dict[str, str]) -> Page:
    page = tab.sign_in("/nowhere")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    return page


SCREENS: dict[str, Callable[[Tab, dict[str, str]], Page]] = {
    "sign-in": sign_in_screen,
    "jobs": jobs_screen,
    "shortcuts": shortcuts_help,
    "job": job_screen,
    "parent": parent_screen,
    "record": record_screen,
    "statistics": statistics_screen,
    "ops": ops_screen,
    "automations": automations_screen,
    "admin": admin_screen,
    "not-found": not_found_screen,
}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("screen", SCREENS)
def test_the_screen_has_no_accessibility_violations(open_tab, shown: dict[str, str], screen: str, scheme: str):
    tab: Tab = open_tab(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
    page = SCREENS[screen](tab, shown)
    results = AXE.run(page)
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / f"a11y-{screen}-{scheme}.png", full_page=True)
    assert results.violations_count == 0, results.generate_report()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_jobs_page_on_a_phone_has_no_accessibility_violations(open_tab, shown: dict[str, str], scheme: str):
    tab: Tab = open_tab(viewport={"width": 390, "height": 844}, color_scheme=scheme)
    page = tab.sign_in("/jobs?q=a11y")
    expect(tab.run("a11y errors")).to_be_visible()
    results = AXE.run(page)
    page.screenshot(path=screenshots_folder() / f"a11y-jobs-390-{scheme}.png", full_page=True)
    assert results.violations_count == 0, results.generate_report()
