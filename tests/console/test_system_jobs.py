"""The System jobs page in Chromium against ``jobtower serve``: the jobs the platform starts
itself (the demo's ``system.prune``), as the API reports them, searched and filtered through
the URL, hidden from the lists and brought back, and refused to those below ADMIN.

An admin may start a system job type through ``startJob``, as the nightly schedule does; a
prune that keeps ten years deletes none of the other tests' jobs."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.console.conftest import Served, Tab, finished, screenshots_folder

PRUNE = "system.prune"
KEEP_EVERYTHING = {"olderThanDays": 3650}
SYSTEM_JOB = """
query ($id: ID!) { job(id: $id) {
  type name status outcome hidden createdAt endedAt tenant { slug } runBy { name }
  progress { total done }
} }
"""
JOB_TYPES = "{ jobTypes { name label system } }"
UNHIDE = "mutation ($id: ID!) { unhideJob(id: $id) { __typename } }"
# A server just started on a busy machine may take a while to bring its workers up.
RUN_SECONDS = 60


def start_prune(served: Served, name: str) -> str:
    return served.start_job(name, PRUNE, **KEEP_EVERYTHING)


def system_job(served: Served, job_id: str) -> dict[str, Any]:
    return served.api(SYSTEM_JOB, {"id": job_id})["job"]


def system_jobs(tab: Tab, query: str = "") -> Page:
    page = tab.sign_in(f"/system{query}")
    expect(page.get_by_role("heading", name="System jobs", level=1)).to_be_visible()
    return page


def table(page: Page) -> Locator:
    return page.get_by_role("table", name="Jobs the platform started")


def row(page: Page, name: str) -> Locator:
    return table(page).get_by_role("row", name=name, exact=True)


def listed(page: Page) -> Locator:
    """The table's rows of jobs, without its header."""
    return table(page).locator("tbody").get_by_role("row")


def local_day(page: Page, iso: str, offset_days: int = 0) -> str:
    """The day the browser's date inputs give `iso` (its own time zone), `offset_days` later."""
    return page.evaluate(
        """([iso, offset]) => {
            const day = new Date(iso);
            day.setDate(day.getDate() + offset);
            return day.toLocaleDateString("sv");
        }""",
        [iso, offset_days],
    )


def test_a_system_job_shows_its_fields_as_the_api_reports_them(tab: Tab):
    served = tab.served
    job_id = start_prune(served, "sysfields prune")
    finished(served, job_id, RUN_SECONDS)
    served.start_job("sysfields noop", records=1, steps=1)
    job = system_job(served, job_id)
    label = next(type_["label"] for type_ in served.api(JOB_TYPES)["jobTypes"] if type_["name"] == job["type"])

    page = tab.sign_in("/jobs")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="System", exact=True).click()
    expect(page).to_have_url(re.compile("/system$"))
    page.get_by_role("searchbox", name="Search").fill("sysfields")
    page.get_by_role("searchbox", name="Search").press("Enter")
    expect(page).to_have_url(re.compile(r"/system\?q=sysfields$"))
    shown = row(page, "sysfields prune")
    expect(listed(page)).to_have_count(1)  # the noop job is no system job
    cells = shown.get_by_role("cell")
    expect(cells.nth(0)).to_contain_text(label)
    expect(cells.nth(1)).to_have_text(job["tenant"]["slug"])
    progress = shown.get_by_role("progressbar", name="Progress of sysfields prune")
    expect(progress).to_have_attribute("aria-valuemin", "0")
    expect(progress).to_have_attribute("aria-valuemax", str(job["progress"]["total"]))
    expect(progress).to_have_attribute("aria-valuenow", str(job["progress"]["done"]))
    expect(cells.nth(3)).to_have_text(re.compile(r"Finished.*Succeeded"))
    expect(cells.nth(4)).to_have_text(job["runBy"]["name"])
    expect(cells.nth(5).locator("time")).to_have_attribute("datetime", job["createdAt"])
    expect(cells.nth(6).locator("time")).to_have_attribute("datetime", job["endedAt"])

    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / "system-jobs-1280-light.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    expect(progress).to_be_visible()
    page.screenshot(path=folder / "system-jobs-390-dark.png")

    shown.get_by_role("link", name="sysfields prune").click()
    expect(page).to_have_url(re.compile(f"/jobs/{job_id}$"))
    expect(page.get_by_role("heading", name="sysfields prune", level=1)).to_be_visible()


def test_search_status_and_created_days_narrow_the_list_and_a_reload_keeps_them(tab: Tab):
    served = tab.served
    alpha = start_prune(served, "sysfilter alpha")
    beta = start_prune(served, "sysfilter beta")
    finished(served, alpha, RUN_SECONDS)
    finished(served, beta, RUN_SECONDS)
    page = system_jobs(tab, "?q=sysfilter")
    expect(listed(page)).to_have_count(2)

    page.get_by_role("searchbox", name="Search").fill("sysfilter alpha")
    page.get_by_role("searchbox", name="Search").press("Enter")
    expect(row(page, "sysfilter alpha")).to_be_visible()
    expect(listed(page)).to_have_count(1)
    page.reload()
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("sysfilter alpha")
    expect(listed(page)).to_have_count(1)
    page.go_back()
    expect(listed(page)).to_have_count(2)

    status = page.get_by_label("Status")
    status.select_option("RUNNING")
    expect(page).to_have_url(re.compile("status=RUNNING"))
    expect(page.get_by_text("No system job matches")).to_be_visible()
    status.select_option("FINISHED")
    expect(listed(page)).to_have_count(2)
    page.reload()
    expect(page.get_by_label("Status")).to_have_value("FINISHED")
    expect(listed(page)).to_have_count(2)

    created = system_job(served, alpha)["createdAt"]
    page.get_by_label("Created from").fill(local_day(page, created, 1))
    expect(page.get_by_text("No system job matches")).to_be_visible()
    page.get_by_label("Created from").fill(local_day(page, created))
    page.get_by_label("Created to").fill(local_day(page, created))
    expect(listed(page)).to_have_count(2)
    page.reload()
    expect(page.get_by_label("Created to")).to_have_value(local_day(page, created))
    expect(listed(page)).to_have_count(2)
    page.get_by_label("Created to").fill(local_day(page, created, -1))
    expect(page.get_by_role("status").filter(has_text="system job")).to_have_text("0 system jobs")


def test_delete_entry_hides_a_system_job_and_unhide_brings_it_back(tab: Tab):
    served = tab.served
    job_id = start_prune(served, "sysdelete prune")
    page = system_jobs(tab, "?q=sysdelete")
    shown = row(page, "sysdelete prune")

    shown.get_by_role("button", name="Delete entry").click()
    page.get_by_role("dialog", name="Delete this entry?").get_by_role("button", name="Keep it listed").click()
    expect(shown).to_be_visible()
    assert system_job(served, job_id)["hidden"] is False

    shown.get_by_role("button", name="Delete entry").click()
    page.get_by_role("dialog", name="Delete this entry?").get_by_role("button", name="Delete entry").click()
    expect(shown).to_have_count(0)
    expect(page.get_by_text("“sysdelete prune”: The entry is hidden from the lists.")).to_be_visible()
    assert system_job(served, job_id)["hidden"] is True
    page.reload()
    expect(page.get_by_text("No system job matches")).to_be_visible()

    page.get_by_label("Include hidden").check()
    expect(page).to_have_url(re.compile("hidden=1"))
    expect(shown.get_by_text("Hidden", exact=True)).to_be_visible()
    shown.get_by_role("button", name="Unhide").click()
    expect(shown.get_by_text("Hidden", exact=True)).to_have_count(0)
    expect(shown.get_by_role("button", name="Delete entry")).to_be_visible()
    assert system_job(served, job_id)["hidden"] is False


def test_unhide_that_the_api_refuses_says_why_on_its_row(tab: Tab):
    served = tab.served
    job_id = start_prune(served, "sysrefused prune")
    page = system_jobs(tab, "?q=sysrefused&hidden=1")
    shown = row(page, "sysrefused prune")
    shown.get_by_role("button", name="Delete entry").click()
    page.get_by_role("dialog", name="Delete this entry?").get_by_role("button", name="Delete entry").click()
    expect(shown.get_by_role("button", name="Unhide")).to_be_visible()

    # Another admin brings it back first: the row still offers Unhide, which the API refuses.
    assert served.api(UNHIDE, {"id": job_id})["unhideJob"]["__typename"] == "JobOperationSuccess"
    shown.get_by_role("button", name="Unhide").click()
    expect(shown.get_by_role("alert")).to_have_text("Not possible now: the job is not hidden")
    page.get_by_role("button", name="Refresh").click()
    expect(shown.get_by_role("button", name="Delete entry")).to_be_visible()


def test_show_more_appends_the_next_page_of_system_jobs(tab: Tab):
    served = tab.served
    for number in range(52):
        start_prune(served, f"syspage {number:02}")
    page = system_jobs(tab, "?q=syspage")
    expect(page.get_by_role("status").filter(has_text="system job")).to_have_text("52 system jobs")
    expect(listed(page)).to_have_count(50)
    expect(listed(page).first).to_have_accessible_name("syspage 51")  # newest first
    page.get_by_role("button", name="Show more system jobs").click()
    expect(listed(page)).to_have_count(52)
    expect(listed(page).last).to_have_accessible_name("syspage 00")
    expect(page.get_by_role("button", name="Show more system jobs")).to_have_count(0)


def test_an_operator_is_told_system_jobs_need_the_admin_role(tab: Tab):
    served = tab.served
    operator = served.cli("token", "create", "--tenant", "demo", "--role", "OPERATOR", "--name", "Otto")
    page = tab.sign_in("/jobs", token=operator, role="OPERATOR")
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("link", name="Admin")).to_be_visible()
    expect(sections.get_by_role("link", name="System", exact=True)).to_have_count(0)

    page.goto(f"{served.url}/system")
    expect(page.get_by_role("heading", name="System jobs needs the ADMIN role")).to_be_visible()
    expect(page.get_by_text("Needs the ADMIN role; you are OPERATOR.")).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)
