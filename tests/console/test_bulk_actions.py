"""Bulk actions on the Jobs page, in a real Chromium against a real ``jobtower serve``: ticking
runs (one by one, a shift-range, every one the filter matches), the question with the API's
counts, the operation's live progress and the jobs it could not change, and canceling it."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.console.conftest import Served, Tab, eventually, finished, screenshots_folder

# Jobs that would run for a while; stopped at once, they stay as they are, holding no worker.
STILL = {"records": 10_000, "steps": 1, "stepMs": 200, "chunkSize": 10_000}
# How many jobs one request starts (the API allows 30 aliases): its mutations run one after the other.
STARTS_PER_REQUEST = 30

COUNT = "query ($filter: JobFilter) { jobs(first: 1, filter: $filter) { totalCount } }"
PREVIEW = "query ($input: StartBulkOperationInput!) { bulkPreview(input: $input) { total eligible } }"
START_BULK = """mutation ($input: StartBulkOperationInput!) { startBulkOperation(input: $input) {
  ... on BulkOperationStarted { bulkOperation { id } } ... on Error { code message } } }"""
OPERATIONS = "{ bulkOperations(first: 1) { edges { node { id action status total done succeeded failed } } } }"
OPERATION = "query ($id: ID!) { bulkOperation(id: $id) { status total done succeeded failed } }"


def tag() -> str:
    return f"bulk-{uuid.uuid4().hex[:8]}"


def start_jobs(served: Served, name: str, count: int, **params: Any) -> list[str]:
    """``count`` noop jobs named ``name 0``, ``name 1``…, oldest first; their ids."""
    chunk_size = params.pop("chunkSize", None)
    ids: list[str] = []
    for first in range(0, count, STARTS_PER_REQUEST):
        numbers = range(first, min(count, first + STARTS_PER_REQUEST))
        declared = ", ".join(f"$i{n}: StartJobInput!" for n in numbers)
        started = " ".join(f"j{n}: startJob(input: $i{n}) {{ ... on JobStarted {{ job {{ id }} }} }}" for n in numbers)
        data = served.api(
            f"mutation ({declared}) {{ {started} }}",
            {f"i{n}": {"type": "noop", "name": f"{name} {n}", "params": params, "chunkSize": chunk_size} for n in numbers},
        )
        ids += [data[f"j{n}"]["job"]["id"] for n in numbers]
    return ids


def count(served: Served, **filter: Any) -> int:
    return served.api(COUNT, {"filter": filter})["jobs"]["totalCount"]


def bulk(served: Served, action: str, **chosen: Any) -> dict[str, Any]:
    """A bulk operation started through the API, once the server's workers ended it."""
    started = served.api(START_BULK, {"input": {"action": action, **chosen}})["startBulkOperation"]
    assert "bulkOperation" in started, started
    operation_id = started["bulkOperation"]["id"]
    return eventually(
        lambda: (done := served.api(OPERATION, {"id": operation_id})["bulkOperation"])["status"] in ("COMPLETED", "CANCELED")
        and done,
        "the bulk operation to end",
        timeout=120,
    )


def still_jobs(served: Served, name: str, how_many: int) -> list[str]:
    """Stopped jobs named after ``name`` (its search finds them): they keep their status."""
    ids = start_jobs(served, name, how_many, **STILL)
    bulk(served, "STOP", filter={"search": name})
    eventually(lambda: count(served, search=name, status=["STOPPED"]) == how_many, "the jobs to stop", timeout=120)
    return ids


def latest_operation(served: Served) -> dict[str, Any]:
    return served.api(OPERATIONS)["bulkOperations"]["edges"][0]["node"]


def checkbox(tab: Tab, name: str):
    return tab.run(name).get_by_role("checkbox", name=f"Select {name}")


def bulk_bar(page: Page):
    return page.get_by_role("toolbar", name="Bulk actions")


def progress(page: Page):
    return page.get_by_role("progressbar", name="Bulk progress")


def test_tick_runs_by_click_and_shift_range_and_the_header_box(tab: Tab):
    name = tag()
    still_jobs(tab.served, name, 6)
    page = tab.sign_in(f"/jobs?q={name}")
    expect(tab.runs()).to_have_count(6)
    header = page.get_by_role("checkbox", name="Select the loaded runs")

    # Newest first: "name 5" is the first row.
    checkbox(tab, f"{name} 4").click()
    checkbox(tab, f"{name} 1").click(modifiers=["Shift"])

    expect(bulk_bar(page).get_by_role("status")).to_have_text("4 selected jobs")
    for n, ticked in ((5, False), (4, True), (3, True), (2, True), (1, True), (0, False)):
        expect(checkbox(tab, f"{name} {n}")).to_be_checked(checked=ticked)
    assert header.evaluate("box => box.indeterminate")

    checkbox(tab, f"{name} 3").click()  # a plain click unticks one
    expect(bulk_bar(page).get_by_role("status")).to_have_text("3 selected jobs")
    header.click()
    expect(bulk_bar(page).get_by_role("status")).to_have_text("6 selected jobs")
    expect(checkbox(tab, f"{name} 0")).to_be_checked()
    header.click()
    expect(bulk_bar(page)).to_have_count(0)
    expect(checkbox(tab, f"{name} 4")).not_to_be_checked()


def test_a_bulk_cancel_asks_with_the_apis_counts_then_shows_progress_and_the_jobs_it_could_not_change(tab: Tab):
    served = tab.served
    name = tag()
    stopped = still_jobs(served, f"{name} stopped", 3)
    done = start_jobs(served, f"{name} done", 2, records=1, steps=1)
    for job_id in done:
        finished(served, job_id)
    page = tab.sign_in(f"/jobs?q={name}")
    expect(tab.runs()).to_have_count(5)
    checkbox(tab, f"{name} done 1").click()
    checkbox(tab, f"{name} stopped 0").click(modifiers=["Shift"])
    expect(bulk_bar(page).get_by_role("status")).to_have_text("5 selected jobs")
    told = served.api(PREVIEW, {"input": {"action": "CANCEL", "ids": stopped + done}})["bulkPreview"]
    assert told == {"total": 5, "eligible": 3}

    bulk_bar(page).get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.get_by_role("dialog", name="Cancel: 5 jobs?")
    expect(dialog).to_contain_text("5 selected jobs")
    expect(dialog).to_contain_text("3 of 5 jobs can be canceled now; the other 2 will be listed as not changed")
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / "jobs-bulk-question.png")
    dialog.get_by_role("button", name="Cancel 5 jobs").click()

    expect(progress(page)).to_have_attribute("aria-valuenow", "5")
    expect(progress(page)).to_have_attribute("aria-valuemax", "5")
    expect(page.get_by_label("Bulk operation status")).to_have_text("Completed")
    expect(page.get_by_label("Bulk counts")).to_have_text("5 / 5 done · 3 succeeded · 2 not changed")
    refused = page.get_by_role("list", name="Not changed").get_by_role("listitem")
    expect(refused).to_have_count(2)
    for n in (0, 1):
        item = refused.filter(has_text=f"{name} done {n}")
        expect(item.get_by_role("link", name=f"{name} done {n}")).to_have_attribute("href", f"/jobs/{done[n]}")
        expect(item).to_contain_text("INVALID_TRANSITION")
    assert [served.job(job_id)["status"] for job_id in stopped] == ["CANCELED"] * 3
    assert [served.job(job_id)["status"] for job_id in done] == ["FINISHED"] * 2
    operation = latest_operation(served)
    assert (operation["action"], operation["status"], operation["succeeded"], operation["failed"]) == (
        "CANCEL",
        "COMPLETED",
        3,
        2,
    )
    # The rows follow live: the canceled runs say so without a refresh.
    expect(tab.run(f"{name} stopped 1").get_by_label("Status")).to_contain_text("Canceled")
    page.screenshot(path=folder / "jobs-bulk-cancel.png")

    page.get_by_role("button", name="Dismiss").click()
    expect(progress(page)).to_have_count(0)


def test_all_matching_acts_on_the_jobs_beyond_the_loaded_page(tab: Tab):
    served = tab.served
    name = tag()
    still_jobs(served, name, 60)  # a page holds 50
    page = tab.sign_in(f"/jobs?q={name}")
    # The list knows all 60, though it read one page of 50 and draws only the rows in view.
    expect(tab.runs().first).to_have_attribute("aria-setsize", "60")
    checkbox(tab, f"{name} 59").click()

    bulk_bar(page).get_by_role("button", name="Select all 60 matching this filter").click()
    expect(bulk_bar(page).get_by_role("status")).to_have_text(f"All 60 of the jobs matching “{name}”")
    expect(checkbox(tab, f"{name} 55")).to_be_checked()
    bulk_bar(page).get_by_role("button", name="Resume").click()
    dialog = page.get_by_role("dialog", name="Resume: 60 jobs?")
    expect(dialog).to_contain_text("All 60 jobs can be resumed now.")
    dialog.get_by_role("button", name="Resume 60 jobs").click()

    expect(progress(page)).to_have_attribute("aria-valuenow", "60")
    expect(page.get_by_label("Bulk operation status")).to_have_text("Completed")
    assert count(served, search=name, status=["STOPPED"]) == 0
    # Cleared after use: no leftovers hold the shared server's workers.
    bulk(served, "CANCEL", filter={"search": name})


def test_canceling_a_running_bulk_operation_leaves_the_jobs_it_had_not_reached(tab: Tab):
    served = tab.served
    name = tag()
    # Canceling a stopped job discards its chunks and settles its plan usage: 200 of them keep
    # the worker busy for seconds, and the click lands after the first few (one, when measured).
    total = 200
    still_jobs(served, name, total)
    page = tab.sign_in(f"/jobs?q={name}")
    checkbox(tab, f"{name} {total - 1}").click()
    bulk_bar(page).get_by_role("button", name=f"Select all {total} matching this filter").click()
    bulk_bar(page).get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name=f"Cancel {total} jobs").click()

    page.get_by_role("button", name="Cancel bulk action").click()

    expect(page.get_by_label("Bulk operation status")).to_have_text("Canceled")
    operation = latest_operation(served)
    assert (operation["status"], operation["total"]) == ("CANCELED", total)
    assert operation["done"] < total
    expect(progress(page)).to_have_attribute("aria-valuenow", str(operation["done"]))
    expect(page.get_by_label("Bulk counts")).to_contain_text(f"{total - operation['done']} left as they were")
    # Every job it reached is canceled; every other one is as it was.
    assert count(served, search=name, status=["CANCELED"]) == operation["succeeded"]
    assert count(served, search=name, status=["STOPPED"]) == total - operation["done"]
    bulk(served, "CANCEL", filter={"search": name})


def test_a_viewer_sees_no_bulk_actions_and_an_operator_none_of_the_admins(tab: Tab):
    served = tab.served
    name = tag()
    still_jobs(served, name, 2)
    viewer = served.cli("token", "create", "--tenant", "demo", "--role", "VIEWER", "--name", "Vera")
    page = tab.sign_in(f"/jobs?q={name}", token=viewer, role="VIEWER")
    expect(tab.runs()).to_have_count(2)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(bulk_bar(page)).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    operator = served.cli("token", "create", "--tenant", "demo", "--role", "OPERATOR", "--name", "Otto")
    page = tab.sign_in(f"/jobs?q={name}", token=operator, role="OPERATOR")
    checkbox(tab, f"{name} 0").click()
    offered = bulk_bar(page).get_by_role("button")
    expect(offered.filter(has_text="Cancel")).to_have_count(1)
    expect(offered.filter(has_text="low priority")).to_have_count(0)
