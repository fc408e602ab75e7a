"""The Live ops page in Chromium against ``jobtower serve``: cards the liveOps subscription keeps
current without a reload, and links that open the jobs they count."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.conftest import Served, Tab, eventually, finished, screenshots_folder

LIVE_OPS = "{ liveOps { counts { status count } failedLast24h } }"
JOB_STATUS = "query ($id: ID!) { job(id: $id) { status } }"
# A chunk's records run side by side: two chunks of four 2-second steps run for about eight
# seconds, long enough to be seen RUNNING on a loaded machine.
STEADY = {"records": 20, "steps": 4, "stepMs": 2000, "chunkSize": 10}
# The page as it was first loaded: a reload would forget it.
MARK = "window.__sameDocument = true"
SAME_DOCUMENT = "window.__sameDocument === true"


def open_ops(tab: Tab) -> Page:
    page = tab.sign_in("/ops")
    expect(page.get_by_role("region", name="Jobs by status")).to_be_visible()
    expect(page.get_by_role("status", name="Updates")).to_have_text("Live")
    page.evaluate(MARK)
    return page


def api_count(served: Served, status: str) -> int:
    counts = served.api(LIVE_OPS)["liveOps"]["counts"]
    return next(item["count"] for item in counts if item["status"] == status)


def shown_count(page: Page, status: str) -> int:
    figure = page.get_by_role("region", name="Jobs by status").get_by_label(status, exact=True)
    return int((figure.text_content() or "").replace(",", ""))


def agree(page: Page, served: Served, label: str, status: str, check=lambda count: True) -> int:
    """Waits until the card shows what the API counts now (and that count passes ``check``)."""

    def same() -> tuple[int] | None:
        count = api_count(served, status)
        return (count,) if check(count) and shown_count(page, label) == count else None

    return eventually(same, f"the {label} card to show the API's count", timeout=30)[0]


def test_the_cards_follow_a_job_that_starts_and_finishes_without_a_reload(tab: Tab):
    served = tab.served
    page = open_ops(tab)
    finished_before = shown_count(page, "Finished")

    job_id = served.start_job("live ops steady", **STEADY)
    eventually(lambda: served.api(JOB_STATUS, {"id": job_id})["job"]["status"] == "RUNNING", "the job to run")
    agree(page, served, "Running", "RUNNING", check=lambda count: count >= 1)

    finished(served, job_id, timeout=60)
    agree(page, served, "Finished", "FINISHED", check=lambda count: count > finished_before)
    agree(page, served, "Running", "RUNNING")
    assert page.evaluate(SAME_DOCUMENT), "the cards changed in place, without a reload"

    running = page.get_by_role("region", name="Jobs by status").get_by_label("Running", exact=True)
    running.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/jobs\?status=RUNNING$"))


def test_a_failed_job_is_listed_and_its_link_opens_it(tab: Tab):
    served = tab.served
    page = open_ops(tab)
    job_id = served.start_job("live ops broken import", "data_import", rows=40, malformedAtRow=3, latencyScale=0)
    eventually(lambda: served.api(JOB_STATUS, {"id": job_id})["job"]["status"] == "FAILED", "the import to fail", 60)

    failed = page.get_by_role("region", name="Failed in the last 24 h")
    link = failed.get_by_role("list", name="Failed jobs").get_by_role("link", name="live ops broken import")
    expect(link).to_be_visible()
    expect(failed.get_by_label("Failed in the last 24 h", exact=True)).to_have_text(
        str(served.api(LIVE_OPS)["liveOps"]["failedLast24h"])
    )
    assert page.evaluate(SAME_DOCUMENT)

    link.click()
    expect(page).to_have_url(re.compile(rf"/jobs/{re.escape(job_id)}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("live ops broken import")
    expect(page.get_by_role("region", name=re.compile(".")).get_by_label("Status").first).to_contain_text("Failed")


def test_the_header_links_both_screens_and_the_tab_keeps_one_websocket(tab: Tab):
    page = tab.sign_in("/jobs")
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("link", name="Jobs")).to_have_attribute("aria-current", "true")
    sections.get_by_role("link", name="Live ops").click()
    expect(page).to_have_url(re.compile(r"/ops$"))
    expect(page.get_by_role("region", name="Jobs by status")).to_be_visible()
    expect(sections.get_by_role("link", name="Live ops")).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("region", name="Workers online").get_by_label("Workers online")).not_to_have_text("0")

    sections.get_by_role("link", name="Statistics").click()
    expect(page.get_by_role("heading", name="Statistics")).to_be_visible()
    sockets = [url for url in tab.requested if url.startswith("ws")]
    assert len(sockets) == 1, sockets


def test_screenshots_of_live_ops_at_two_widths_in_both_themes(open_tab, served: Served):
    served.start_job("screenshot ops running", **STEADY)
    served.start_job("screenshot ops failed", "data_import", rows=40, malformedAtRow=3, latencyScale=0)
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        for scheme in ("light", "dark"):
            tab = open_tab(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = open_ops(tab)
            expect(page.get_by_role("link", name="screenshot ops failed").first).to_be_visible(timeout=60_000)
            page.screenshot(path=folder / f"ops-{width}-{scheme}.png", full_page=True)
