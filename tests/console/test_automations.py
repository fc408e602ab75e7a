"""The Automations page in Chromium against ``jobtower serve``: the tenant's schedules, what they
run and when, their last runs, and what an admin (and only an admin) may do with them."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.console.conftest import Served, Tab, eventually, screenshots_folder

SCHEDULES = """
{ schedules { id name cron cronDescription timezone enabled nextRunAt nextRunAtLocal
  lastRuns { job { id status } } } }
"""
RUN_NOW = """
mutation ($id: ID!) { runScheduleNow(id: $id) { ... on JobStarted { job { id } } ... on Error { code message } } }
"""


def automations(tab: Tab, **sign_in: Any) -> Page:
    page = tab.sign_in("/automations", **sign_in)
    expect(page.get_by_role("heading", name="Automations", level=1)).to_be_visible()
    return page


def card(page: Page, name: str) -> Locator:
    return page.get_by_role("list", name="Automations").get_by_role("listitem", name=name, exact=True)


def schedule(served: Served, name: str, token: str | None = None) -> dict[str, Any] | None:
    listed = served.api(SCHEDULES, token=token)["schedules"]
    return next((found for found in listed if found["name"] == name), None)


def in_utc(iso: str) -> str:
    """How the page writes a UTC moment."""
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def on_its_clock(local: str) -> str:
    """How the page writes a moment on the schedule's own wall clock."""
    moment = datetime.fromisoformat(local)
    return f"{moment:%Y-%m-%d %H:%M} (UTC{moment.isoformat()[-6:]})"


def test_an_admin_creates_edits_disables_runs_and_deletes_an_automation(tab: Tab):
    served = tab.served
    name = "Weekday quick no-op"
    page = automations(tab)

    page.get_by_role("button", name="New automation").click()
    form = page.get_by_role("form", name="New automation")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Job type").select_option("noop")
    form.get_by_label("Cron").fill("every weekday at nine")
    form.get_by_label("Time zone").select_option("Europe/Berlin")
    form.get_by_label("Params (JSON)").fill('{"records": 3, "steps": 1}')
    form.get_by_role("button", name="Create automation").click()
    cron = form.get_by_label("Cron")
    expect(cron).to_have_accessible_description(re.compile("is not a cron expression of five fields"))
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(cron).to_be_focused()
    assert schedule(served, name) is None

    # The params are the job type's to judge: the field it names shows beside the params.
    cron.fill("0 9 * * 1-5")
    form.get_by_label("Params (JSON)").fill('{"records": -3, "steps": 1}')
    form.get_by_role("button", name="Create automation").click()
    params = form.get_by_label("Params (JSON)")
    expect(params).to_have_accessible_description(re.compile(r"^params\.records: .*minimum"))
    expect(cron).not_to_have_attribute("aria-invalid", "true")
    assert schedule(served, name) is None

    params.fill('{"records": 3, "steps": 1}')
    form.get_by_role("button", name="Create automation").click()
    expect(form).to_have_count(0)
    saved = eventually(lambda: schedule(served, name), "the schedule to exist")
    assert saved["cronDescription"] and saved["timezone"] == "Europe/Berlin"
    expect(page.get_by_role("status").filter(has_text=f"Saved “{name}”")).to_contain_text(saved["cronDescription"])
    listed = card(page, name)
    expect(listed.get_by_label("When")).to_have_text(saved["cronDescription"])
    expect(listed.get_by_label("Cron")).to_have_text("0 9 * * 1-5")
    expect(listed.get_by_label("Job type")).to_have_text("No-op")
    expect(listed.get_by_label("Next run (UTC)")).to_have_text(in_utc(saved["nextRunAt"]))
    expect(listed.get_by_label("Next run (Europe/Berlin)")).to_have_text(on_its_clock(saved["nextRunAtLocal"]))
    expect(listed.get_by_label("Next run (Europe/Berlin)")).to_contain_text(" 09:00 (UTC+0")
    expect(listed.get_by_label("State")).to_have_text(re.compile("Enabled"))

    listed.get_by_role("button", name="Edit").click()
    edit = page.get_by_role("form", name=f"Edit “{name}”")
    expect(edit.get_by_label("Cron")).to_have_accessible_description(re.compile(saved["cronDescription"]))
    edit.get_by_label("Cron").fill("30 18 * * *")
    edit.get_by_label("Time zone").select_option("UTC")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit).to_have_count(0)
    edited = eventually(lambda: (found := schedule(served, name))["cron"] == "30 18 * * *" and found, "the edit")
    assert edited["cronDescription"] != saved["cronDescription"] and edited["timezone"] == "UTC"
    expect(listed.get_by_label("When")).to_have_text(edited["cronDescription"])
    expect(listed.get_by_label("Next run (UTC)")).to_contain_text("18:30 UTC")

    listed.get_by_role("button", name="Disable").click()
    expect(listed.get_by_label("State")).to_have_text(re.compile("Disabled"))
    expect(listed.get_by_label("Next run (UTC)")).to_have_text("Not on time: disabled")
    assert schedule(served, name)["enabled"] is False

    listed.get_by_role("button", name="Run now").click()
    expect(listed.get_by_role("status")).to_contain_text("Started a run.")
    runs = listed.get_by_role("list", name="Last runs").get_by_role("listitem")
    expect(runs).to_have_count(1)
    expect(runs.first.get_by_label("Started by")).to_have_text("now, by demo admin")
    # The run goes on while the page is open: its outcome arrives without a reload.
    expect(runs.first.get_by_label("Outcome")).to_contain_text("Succeeded")
    (run,) = schedule(served, name)["lastRuns"]
    runs.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/jobs/{re.escape(run['job']['id'])}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)

    page.go_back()
    listed.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name=f"Delete “{name}”?")
    dialog.get_by_role("button", name="Keep it").click()
    expect(listed).to_be_visible()
    listed.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name=f"Delete “{name}”?").get_by_role("button", name="Delete automation").click()
    expect(listed).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Deleted")).to_contain_text(name)
    assert schedule(served, name) is None
    assert served.job(run["job"]["id"])["status"] == "FINISHED"  # its runs are kept


def test_an_operator_sees_the_automations_with_every_action_disabled_and_why(tab: Tab):
    served = tab.served
    operator = served.cli("token", "create", "--tenant", "demo", "--role", "OPERATOR", "--name", "Otto")
    before = len(schedule(served, "Daily KPI report")["lastRuns"])
    page = automations(tab, token=operator, role="OPERATOR")

    listed = card(page, "Daily KPI report")
    expect(listed.get_by_label("When")).to_have_text(re.compile("07:00"))
    buttons = listed.get_by_role("toolbar").get_by_role("button")
    expect(buttons).to_have_count(4)
    for button in buttons.all():
        expect(button).to_be_disabled()
        expect(button).to_have_accessible_description("Needs the ADMIN role; you are OPERATOR.")
    new = page.get_by_role("button", name="New automation")
    expect(new).to_be_disabled()
    expect(new).to_have_accessible_description("Needs the ADMIN role; you are OPERATOR.")

    listed.get_by_role("button", name="Run now").click(force=True)  # a disabled control does nothing
    new.click(force=True)
    expect(page.get_by_role("form")).to_have_count(0)
    assert len(schedule(served, "Daily KPI report")["lastRuns"]) == before


def test_screenshots_of_the_automations_at_two_widths_in_both_themes(open_tab, served: Served):
    kpi = schedule(served, "Daily KPI report")
    started = served.api(RUN_NOW, {"id": kpi["id"]})["runScheduleNow"]
    assert "job" in started, started
    eventually(lambda: served.job(started["job"]["id"])["status"] == "FINISHED", "the report to finish")
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        for scheme in ("light", "dark"):
            tab = open_tab(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = automations(tab)
            runs = card(page, "Daily KPI report").get_by_role("list", name="Last runs").get_by_role("listitem")
            expect(runs.first.get_by_label("Outcome")).to_contain_text("Finished")
            # Every section of the header is on screen at a phone's width too.
            for link in page.get_by_role("navigation", name="Sections").get_by_role("link").all():
                box = link.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (link.text_content(), box)
            page.screenshot(path=folder / f"automations-{width}-{scheme}.png")
            page.get_by_role("button", name="New automation").click()
            form = page.get_by_role("form", name="New automation")
            form.get_by_label("Name").fill("Hourly contact sync")
            form.get_by_label("Cron").fill("hourly")
            form.get_by_role("button", name="Create automation").click()
            expect(form.get_by_label("Cron")).to_have_attribute("aria-invalid", "true")
            page.screenshot(path=folder / f"automations-form-{width}-{scheme}.png")
