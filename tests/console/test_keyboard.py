"""The console by keyboard alone: its shortcuts, the switch that turns them off, the live region
that says which jobs ended, and a whole task done without a mouse (after signing in)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from playwright.sync_api import Locator, Page, expect

from tests.console.conftest import Tab, finished

FAILED = "query ($id: ID!) { job(id: $id) { progress { failed } } }"
# A chunk's records run side by side, their steps one after the other: about ten seconds of
# running, long enough to be listed while it runs on a loaded machine.
MOVING = {"records": 20, "steps": 5, "stepMs": 2000, "chunkSize": 10}


def tab_to(page: Page, target: Locator, presses: int = 80) -> None:
    """Presses Tab until ``target`` has the focus, as a keyboard user would."""
    for _ in range(presses):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


def test_j_and_k_move_through_the_runs_enter_opens_one_and_escape_closes_it(tab: Tab):
    served = tab.served
    ids = [served.start_job(f"keys move {n}", records=2, steps=1) for n in (1, 2, 3)]
    page = tab.sign_in("/jobs?q=keys+move")
    expect(tab.runs()).to_have_count(3)
    newest, middle, oldest = (tab.run(f"keys move {n}") for n in (3, 2, 1))
    keys = page.keyboard

    keys.press("j")
    expect(newest).to_be_focused()
    keys.press("j")
    expect(middle).to_be_focused()
    keys.press("j")
    keys.press("j")
    expect(oldest).to_be_focused()  # the last row stays the last
    keys.press("k")
    expect(middle).to_be_focused()

    keys.press("Enter")
    expect(page).to_have_url(re.compile(f"run={ids[1]}"))
    expect(page.get_by_role("heading", name="Records of keys move 2")).to_be_visible()
    expect(middle).to_be_focused()

    keys.press("Escape")
    expect(page).not_to_have_url(re.compile("run="))
    expect(page.get_by_text("Select a run to see its records.")).to_be_visible()


def test_x_selects_the_focused_run_for_a_bulk_action_and_x_again_leaves_it(tab: Tab):
    served = tab.served
    for n in (1, 2):
        served.start_job(f"keys tick {n}", records=2, steps=1)
    page = tab.sign_in("/jobs?q=keys+tick")
    expect(tab.runs()).to_have_count(2)
    newest, oldest = (tab.run(f"keys tick {n}") for n in (2, 1))
    keys = page.keyboard

    keys.press("j")
    keys.press("j")
    expect(oldest).to_be_focused()
    keys.press("x")
    expect(oldest.get_by_role("checkbox", name="Select keys tick 1")).to_be_checked()
    expect(newest.get_by_role("checkbox", name="Select keys tick 2")).not_to_be_checked()
    expect(page.get_by_role("toolbar", name="Bulk actions").get_by_role("status")).to_have_text("1 selected job")
    expect(oldest).to_be_focused()

    keys.press("x")
    expect(oldest.get_by_role("checkbox", name="Select keys tick 1")).not_to_be_checked()


def test_slash_goes_to_the_search_where_shortcut_keys_are_just_text(tab: Tab):
    served = tab.served
    served.start_job("keys typed", records=2, steps=1)
    page = tab.sign_in("/jobs?q=keys+typed")
    expect(tab.runs()).to_have_count(1)
    search = page.get_by_role("searchbox", name="Search")
    keys = page.keyboard

    keys.press("/")
    expect(search).to_be_focused()
    expect(search).to_have_value("keys typed")
    keys.press("End")
    keys.type(" jkr?/")
    expect(search).to_have_value("keys typed jkr?/")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(tab.run("keys typed")).not_to_be_focused()

    keys.press("Escape")  # leaves the field: the keys are shortcuts again
    expect(search).not_to_be_focused()
    keys.press("j")
    expect(tab.run("keys typed")).to_be_focused()


def test_what_is_typed_into_the_search_as_soon_as_it_shows_is_kept(tab: Tab):
    page = tab.page
    page.clock.install()
    tab.sign_in("/ops")
    # From here the page's timers wait for the test, and so do the effects a screen runs after
    # its first paint: keys typed meanwhile come before them, as on a slow machine.
    page.clock.pause_at(datetime.now() + timedelta(seconds=1))
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Jobs").click()
    search = page.get_by_role("searchbox", name="Search")
    expect(search).to_be_visible()

    page.keyboard.press("/")
    page.keyboard.type("walk")
    page.clock.run_for(1_000)

    expect(search).to_have_value("walk")


def test_r_refreshes_the_list_and_question_mark_lists_the_shortcuts(tab: Tab):
    served = tab.served
    page = tab.sign_in("/jobs?q=keys+refresh")
    expect(page.get_by_text("No runs match")).to_be_visible()
    served.start_job("keys refresh", records=2, steps=1)
    expect(page.get_by_role("button", name="1 new · Refresh")).to_be_visible()
    keys = page.keyboard

    keys.press("r")
    expect(tab.run("keys refresh")).to_be_visible()
    expect(page.get_by_role("button", name="1 new · Refresh")).to_have_count(0)

    keys.press("?")
    help = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help).to_be_visible()
    for key, does in (("j", "next row"), ("k", "previous row"), ("Enter", "Open"), ("Esc", "Close"), ("/", "Search"), ("r", "Refresh")):
        expect(help.get_by_role("row").filter(has_text=key).filter(has_text=does).first).to_be_visible()
    keys.press("Escape")
    expect(help).to_have_count(0)


def test_shortcuts_switched_off_stay_off_after_a_reload_until_switched_on(tab: Tab):
    served = tab.served
    served.start_job("keys off", records=2, steps=1)
    page = tab.sign_in("/jobs?q=keys+off")
    row = tab.run("keys off")
    expect(row).to_be_visible()
    keys = page.keyboard

    keys.press("?")
    help = page.get_by_role("dialog", name="Keyboard shortcuts")
    switch = help.get_by_role("checkbox", name="Single-key shortcuts on")
    expect(switch).to_be_checked()
    closing = help.get_by_role("button", name="Close")
    expect(closing).to_be_focused()  # the dialog takes the focus as it opens
    keys.press("Shift+Tab")
    expect(switch).to_be_focused()
    keys.press("Space")
    expect(switch).not_to_be_checked()
    keys.press("Escape")
    expect(help).to_have_count(0)

    for key in ("j", "?", "/"):
        keys.press(key)
    expect(row).not_to_be_focused()
    expect(page.get_by_role("searchbox", name="Search")).not_to_be_focused()
    expect(help).to_have_count(0)

    page.reload()
    expect(row).to_be_visible()
    keys.press("j")
    expect(row).not_to_be_focused()

    # The header's button still opens the list, where they are switched on again.
    tab_to(page, page.get_by_role("button", name="Keyboard shortcuts"))
    keys.press("Enter")
    expect(closing).to_be_focused()
    keys.press("Shift+Tab")
    expect(switch).to_be_focused()
    keys.press("Space")
    expect(switch).to_be_checked()
    keys.press("Escape")
    keys.press("j")
    expect(row).to_be_focused()


def test_the_focused_row_keeps_the_focus_while_it_updates_live_and_through_a_refresh(tab: Tab):
    served = tab.served
    job_id = served.start_job("keys live", **MOVING)
    page = tab.sign_in("/jobs?q=keys+live")
    row = tab.run("keys live")
    bar = row.get_by_role("progressbar", name="Progress of keys live")
    expect(bar).to_be_visible()
    page.keyboard.press("j")
    expect(row).to_be_focused()

    expect(row.get_by_label("Status")).not_to_contain_text("Finished")
    finished(served, job_id, timeout=60)
    expect(row.get_by_label("Status")).to_contain_text("Finished")
    expect(bar).to_have_attribute("aria-valuenow", "20")
    expect(row).to_be_focused()

    # A newer run drawn above it by Refresh leaves the focus where it was.
    served.start_job("keys live newer", records=2, steps=1)
    expect(page.get_by_role("button", name="1 new · Refresh")).to_be_visible()
    page.keyboard.press("r")
    expect(tab.runs().first).to_have_accessible_name("keys live newer")
    expect(row).to_be_focused()


def test_the_live_region_says_which_job_ended(tab: Tab):
    served = tab.served
    job_id = served.start_job("keys said", **MOVING)
    page = tab.sign_in("/jobs?q=keys+said")
    expect(tab.run("keys said").get_by_label("Status")).not_to_contain_text("Finished")
    region = page.get_by_role("status", name="Announcements")
    expect(region).to_have_attribute("aria-live", "polite")

    finished(served, job_id, timeout=60)
    expect(region).to_have_text("Job keys said finished")


def test_jobs_ending_together_are_said_in_one_sentence_at_most_once_per_gap(tab: Tab):
    served = tab.served
    ids = [served.start_job(f"keys burst {n}", **MOVING) for n in range(3)]
    page = tab.page
    page.clock.install()
    tab.sign_in("/jobs?q=keys+burst")
    expect(tab.runs()).to_have_count(3)
    for name in ("keys burst 0", "keys burst 1", "keys burst 2"):
        expect(tab.run(name).get_by_label("Status")).not_to_contain_text("Finished")
    # From here the page's timers wait for the test: all three endings arrive before the
    # first may be said, however far apart the machine finishes them.
    page.clock.pause_at(datetime.now() + timedelta(seconds=1))
    region = page.get_by_role("status", name="Announcements")

    for job_id in ids:
        finished(served, job_id, timeout=60)
    for name in ("keys burst 0", "keys burst 1", "keys burst 2"):
        expect(tab.run(name).get_by_label("Status")).to_contain_text("Finished")
    expect(region).to_have_text("")

    page.clock.run_for(1)
    expect(region).to_have_text("3 jobs finished")
    page.clock.run_for(4_000)
    expect(region).to_have_text("")


def test_a_keyboard_only_walk_from_a_job_with_failures_to_its_failed_records_run_again(tab: Tab):
    served = tab.served
    served.start_job("walk decoy", records=5, steps=1)
    job_id = served.start_job("walk ledger", records=30, steps=1, failRate=0.4, chunkSize=10)
    finished(served, job_id)
    failed = served.api(FAILED, {"id": job_id})["job"]["progress"]["failed"]
    assert 0 < failed < 30
    page = tab.sign_in("/jobs")
    keys = page.keyboard

    # Find it.
    keys.press("/")
    keys.type("walk ledger")
    keys.press("Enter")
    expect(page).to_have_url(re.compile(r"q=walk\+ledger"))
    expect(tab.runs()).to_have_count(1)
    keys.press("Escape")
    keys.press("j")
    run = tab.run("walk ledger")
    expect(run).to_be_focused()
    expect(run.get_by_label("Status")).to_contain_text("With errors")

    # Open it and list its failed records.
    keys.press("Enter")
    records = page.get_by_role("table", name="Records of walk ledger")
    expect(records.get_by_role("row").nth(1)).to_be_visible()
    tab_to(page, page.get_by_label("Record status"))
    keys.press("f")
    expect(page).to_have_url(re.compile("records=FAILED"))
    expect(records).to_have_attribute("aria-rowcount", str(failed + 1))

    # Open a failed record's journey, then go up to its job.
    keys.press("Tab")  # the records' scroll box
    keys.press("j")
    first = records.get_by_role("row").nth(1)
    expect(first).to_be_focused()
    expect(first).to_contain_text("Failed")
    keys.press("Enter")
    expect(page).to_have_url(re.compile("/records/"))
    expect(page.get_by_label("Error")).to_contain_text("seeded failure")
    keys.press("Escape")
    expect(page).to_have_url(re.compile(f"/jobs/{re.escape(job_id)}$"))

    # Retry the failed records: a new job runs just those.
    retry = page.get_by_role("toolbar", name="Actions").get_by_role("button", name="Retry failed records", exact=True)
    tab_to(page, retry)
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"walk ledger (retry of {failed} failed records)")
    retried = page.url.rsplit("/", 1)[-1]
    finished(served, retried, timeout=60)
    progress = page.get_by_role("progressbar", name=re.compile(r"^Progress of walk ledger \(retry"))
    expect(progress).to_have_attribute("aria-valuemax", str(failed))
    expect(progress).to_have_attribute("aria-valuenow", str(failed))
    expect(page.get_by_role("region", name=re.compile("retry")).get_by_label("Status").first).to_contain_text(
        "Finished"
    )
    keys.press("/")  # the job's search is its log's
    expect(page.get_by_role("searchbox", name="Search the log")).to_be_focused()
