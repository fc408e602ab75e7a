"""The job detail's log in Chromium against ``jobtower serve``: thousands of lines read newest
first with few rows drawn, filters kept in the URL, a line's record, following live lines, and a
multi-line entry's details copied."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from gql.ids import parse_global_id
from tests.console.conftest import SEEN_MS, Served, Tab, eventually, finished, screenshots_folder
from tests.console.log_writer import write_lines

LINES = 5_000
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Lines the DOM may hold at once: those in view, a few either side, and two spacers.
MOST_ROWS = 60
MULTI_LINE = (
    "CRM export failed\nTraceback (most recent call last):\n  File \"sync.py\", line 42\n"
    "TimeoutError: the CRM took too long"
)
MULTI_LINE_FIELDS = {"attempt": 3, "endpoint": "/contacts"}
# A slow step per chunk of one, every record failing: a line a second per worker slot, for
# half a minute, each long enough in view to be seen.
CHATTY = {"records": 120, "steps": 1, "stepMs": 1000, "chunkSize": 1, "failRate": 1}
# Lines the chatty job's log starts with, more than the view shows: there is room to scroll up.
WARM_UP = 200
NEWEST_LINE = "query ($id: ID!) { job(id: $id) { logs(order: DESC, first: 1) { edges { node { message } } } } }"
CANCEL = "mutation ($id: ID!) { cancelJob(id: $id) { __typename } }"

# Counts the log's lines after every change the page makes to it, and keeps the most seen.
COUNT_LINES = """list => {
    const count = () => list.querySelectorAll("li.log-line").length;
    window.mostLines = count();
    new MutationObserver(() => {
        window.mostLines = Math.max(window.mostLines, count());
    }).observe(list, { childList: true, subtree: true });
}"""
# A reader scrolling the log up a screen at a time; true once the line saying `text` is in view.
SCROLL_UP_TO = """([list, text]) => {
    const box = list.parentElement;
    const view = box.getBoundingClientRect();
    const line = [...list.querySelectorAll("li.log-line")].find(
        (item) => item.querySelector(".log-message").textContent === text,
    );
    const place = line?.getBoundingClientRect();
    if (place && place.top >= view.top && place.bottom <= view.bottom) return true;
    box.scrollTop = Math.max(0, box.scrollTop - box.clientHeight);
    return false;
}"""
# The message of the first line wholly in the log's view.
FIRST_IN_VIEW = """list => {
    const box = list.parentElement.getBoundingClientRect();
    const line = [...list.querySelectorAll("li.log-line")].find((item) => item.getBoundingClientRect().top >= box.top);
    return line.querySelector(".log-message").textContent;
}"""
# Whether a line saying `text` (or, with none, the last line drawn) shows in the log's scroll box.
IN_VIEW = """([list, text]) => {
    const view = list.parentElement.getBoundingClientRect();
    const lines = [...list.querySelectorAll("li.log-line")];
    return (text === null ? lines.slice(-1) : lines.filter((item) => item.textContent.includes(text))).some((item) => {
        const place = item.getBoundingClientRect();
        return place.bottom > view.top && place.top < view.bottom;
    });
}"""
# What a datetime-local input shows for an instant, in the browser's time zone.
LOCAL_INPUT = """iso => {
    const moment = new Date(iso);
    return new Date(moment.getTime() - moment.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}"""


def message(number: int) -> str:
    return f"payment {number} refused by the bank" if number % 50 == 0 else f"synced contact {number}"


@pytest.fixture(scope="module")
def logged(served: Served) -> dict[str, Any]:
    """A finished job of 20 records, and 5,000 lines one second apart that name them, then a
    multi-line one: every 50th line is a payment's, levels take turns, every 5th names a record."""
    job_id = served.start_job("logs at scale", records=20, steps=1)
    finished(served, job_id, timeout=60)
    parsed = parse_global_id(job_id)
    assert parsed is not None
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    lines = [
        {
            "jobId": parsed[1],
            "level": LEVELS[number % 4],
            "message": message(number),
            "at": (start + timedelta(seconds=number)).isoformat(),
            **({"chunkIndex": 0, "recordKey": str(number % 20)} if number % 5 == 0 else {}),
        }
        for number in range(LINES)
    ]
    lines.append(
        {
            "jobId": parsed[1], "level": "ERROR", "message": MULTI_LINE, "fields": MULTI_LINE_FIELDS,
            "at": (start + timedelta(seconds=LINES)).isoformat(),
        }
    )
    write_lines(served.data, lines)
    return {"id": job_id, "start": start}


def open_log(tab: Tab, path: str) -> tuple[Page, Locator]:
    page = tab.sign_in(path)
    log = page.get_by_role("list", name="Log", exact=True)
    expect(lines_of(log).first).to_be_attached()
    return page, log


def in_view(log: Locator, text: str | None = None) -> None:
    """Waits until the line saying ``text`` (the last one drawn, with none) shows in the log's box."""
    log.page.wait_for_function(IN_VIEW, arg=[log.element_handle(), text], polling=100, timeout=SEEN_MS)


def lines_of(log: Locator) -> Locator:
    return log.locator("li.log-line")


def follow_toggle(page: Page) -> Locator:
    return page.get_by_role("button", name="Follow", exact=True)


def test_five_thousand_lines_open_at_the_newest_and_scroll_up_with_few_rows_drawn(tab: Tab, logged):
    page, log = open_log(tab, f"/jobs/{logged['id']}")
    in_view(log, "CRM export failed")
    expect(page.get_by_label("Lines shown")).to_have_text(re.compile(r"^5,0\d\d lines$"))
    expect(follow_toggle(page)).to_have_attribute("aria-pressed", "true")
    log.evaluate(COUNT_LINES)

    # Older pages come as the reader scrolls up, ten of them to reach this line.
    target = message(LINES - 1_001)
    page.wait_for_function(SCROLL_UP_TO, arg=[log.element_handle(), target], polling=100, timeout=60_000)

    in_view(log, target)
    expect(follow_toggle(page)).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("window.mostLines") <= MOST_ROWS
    assert lines_of(log).count() <= MOST_ROWS
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    page.get_by_role("region", name="Log", exact=True).scroll_into_view_if_needed()
    page.screenshot(path=folder / "job-log-scrolled.png")


def test_search_level_and_time_range_narrow_the_lines_and_survive_a_reload(tab: Tab, logged):
    page, log = open_log(tab, f"/jobs/{logged['id']}")
    card = page.get_by_role("region", name="Log", exact=True)
    shown = card.get_by_label("Lines shown")
    expect(shown).to_have_text(re.compile(r"^5,0\d\d lines$"))

    card.get_by_label("Search the log", exact=True).fill("payment")
    expect(shown).to_have_text(f"{LINES // 50} lines")
    expect(lines_of(log).first).to_contain_text("payment")
    for text in lines_of(log).locator(".log-message").all_text_contents():
        assert text.startswith("payment "), text

    card.get_by_label("Level", exact=True).select_option(label="Warning and above")
    expect(shown).to_have_text(f"{LINES // 100} lines")  # 50, 150, 250…: WARNING in the turns

    since, until = (logged["start"] + timedelta(seconds=seconds) for seconds in (1_000, 2_000))
    card.get_by_label("From", exact=True).fill(page.evaluate(LOCAL_INPUT, since.isoformat()))
    card.get_by_label("To", exact=True).fill(page.evaluate(LOCAL_INPUT, until.isoformat()))
    expect(shown).to_have_text("10 lines")
    expected = [message(number) for number in range(1_050, 2_000, 100)]
    expect(lines_of(log).locator(".log-message")).to_have_text(expected)
    expect(page).to_have_url(re.compile(r"logq=payment.*level=WARNING|level=WARNING.*logq=payment"))

    page.reload()
    expect(shown).to_have_text("10 lines")
    expect(lines_of(log).locator(".log-message")).to_have_text(expected)
    expect(card.get_by_label("Search the log", exact=True)).to_have_value("payment")
    expect(card.get_by_label("Level", exact=True)).to_have_value("WARNING")
    # The input leaves out a whole minute's seconds.
    shown_since = page.evaluate(LOCAL_INPUT, since.isoformat()).removesuffix(":00")
    expect(card.get_by_label("From", exact=True)).to_have_value(re.compile(f"^{re.escape(shown_since)}"))


def test_a_lines_record_chip_opens_the_records_journey(tab: Tab, logged):
    page, log = open_log(tab, f"/jobs/{logged['id']}")
    # The newest line naming a record: number 4995, of record 15.
    in_view(log, message(LINES - 5))
    line = lines_of(log).filter(has_text=message(LINES - 5))
    line.get_by_role("link", name="Record 15").click()

    expect(page).to_have_url(re.compile("/records/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Record 15")
    expect(page.get_by_label("Status").first).to_contain_text("Succeeded")


def test_a_lines_chunk_chip_selects_its_chunk(tab: Tab, logged):
    page, log = open_log(tab, f"/jobs/{logged['id']}")
    line = lines_of(log).filter(has_text=message(LINES - 5))
    line.get_by_role("button", name="Select chunk 0").click()

    expect(page).to_have_url(re.compile(r"chunk=0"))
    expect(page.get_by_role("table", name=re.compile(r"^Records of chunk \d+$")).get_by_role("link")).to_have_count(20)


def test_a_multi_line_entry_expands_and_copies(tab: Tab, logged):
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=tab.served.url)
    page, log = open_log(tab, f"/jobs/{logged['id']}")
    in_view(log, "CRM export failed")
    entry = lines_of(log).filter(has_text="CRM export failed")
    details = entry.get_by_role("button", name="Details")
    expect(details).to_have_attribute("aria-expanded", "false")
    expect(entry).not_to_contain_text("TimeoutError")

    details.click()
    expect(details).to_have_attribute("aria-expanded", "true")
    expect(entry).to_contain_text("TimeoutError: the CRM took too long")
    expect(entry).to_contain_text('"endpoint": "/contacts"')
    in_view(log, "TimeoutError")  # following: the opened entry is the newest, and stays in view
    entry.get_by_role("button", name="Copy").click()

    expect(entry.get_by_role("status")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{MULTI_LINE}\n{json.dumps(MULTI_LINE_FIELDS, indent=2)}"


@pytest.fixture
def chatty(served: Served) -> Iterator[str]:
    job_id = served.start_job("logs follow", **CHATTY)
    parsed = parse_global_id(job_id)
    assert parsed is not None
    now = datetime.now(timezone.utc).isoformat()
    write_lines(
        served.data,
        ({"jobId": parsed[1], "level": "INFO", "message": f"warming up {n}", "at": now} for n in range(WARM_UP)),
    )
    yield job_id
    served.api(CANCEL, {"id": job_id})


def test_following_shows_new_lines_as_they_arrive_and_pauses_when_the_reader_scrolls_up(tab: Tab, chatty: str):
    served = tab.served

    def newest() -> str:
        edges = served.api(NEWEST_LINE, {"id": chatty})["job"]["logs"]["edges"]
        return edges[0]["node"]["message"] if edges and "failed at step" in edges[0]["node"]["message"] else ""

    page, log = open_log(tab, f"/jobs/{chatty}")
    expect(follow_toggle(page)).to_have_attribute("aria-pressed", "true")
    first = eventually(newest, "the first failure line")
    in_view(log, first)
    later = eventually(lambda: (line := newest()) != first and line, "a later line")
    in_view(log, later)
    in_view(log)

    # Reading back up pauses following: the lines in view stay put as new ones are written.
    log.locator("xpath=..").hover()  # the log's scroll box
    page.mouse.wheel(0, -300)
    expect(follow_toggle(page)).to_have_attribute("aria-pressed", "false")
    read = log.evaluate(FIRST_IN_VIEW)
    more = page.get_by_role("button", name=re.compile(r"^\d+ new lines?$"))
    expect(more).to_be_visible()
    in_view(log, read)
    assert log.evaluate(FIRST_IN_VIEW) == read

    more.click()
    expect(follow_toggle(page)).to_have_attribute("aria-pressed", "true")
    expect(more).to_have_count(0)
    latest = eventually(lambda: (line := newest()) != later and line, "a line written after resuming")
    in_view(log, latest)


def test_screenshots_of_the_log_at_two_widths_in_both_themes(open_tab, logged):
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        for scheme in ("light", "dark"):
            tab = open_tab(viewport={"width": width, "height": height}, color_scheme=scheme)
            page, log = open_log(tab, f"/jobs/{logged['id']}")
            entry = lines_of(log).filter(has_text="CRM export failed")
            entry.get_by_role("button", name="Details").click()
            expect(entry).to_contain_text("TimeoutError")
            in_view(log, "TimeoutError")
            page.get_by_role("region", name="Log", exact=True).scroll_into_view_if_needed()
            page.screenshot(path=folder / f"job-log-{width}-{scheme}.png")
