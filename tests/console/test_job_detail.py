"""The job detail, the record journey and the lifecycle actions, in Chromium against ``jobtower serve``."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, WebSocketRoute, expect

from tests.console.conftest import START_JOB, Served, Tab, eventually, finished, screenshots_folder

# A server runs 4 chunks at a time and noop 64 of a chunk's records at once, so a job of
# 64-record chunks takes stepMs per 256 records: these run long after a loaded machine has drawn
# the page and clicked, and a stop or cancel lands at the end of the current stepMs.
LONG = {"records": 5120, "steps": 1, "stepMs": 1500, "chunkSize": 64}  # about 30 s
# Each window takes 20 s, so the job stays Stopping long enough to be force-stopped.
LONG_WINDOWS = {"records": 1280, "steps": 1, "stepMs": 20_000, "chunkSize": 64}
FRESH = """
query ($id: ID!) { job(id: $id) { status seq progress { done total } chunks(first: 1) { totalCount } } }
"""
CANCEL = "mutation ($id: ID!) { cancelJob(id: $id) { __typename } }"
STOP = "mutation ($id: ID!) { stopJob(id: $id) { __typename } }"


def detail(tab: Tab, job_id: str, **sign_in: Any) -> Page:
    page = tab.sign_in(f"/jobs/{job_id}", **sign_in)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    return page


def status(page: Page):
    return page.get_by_role("region", name=re.compile(".")).get_by_label("Status").first


def action(page: Page, name: str):
    return page.get_by_role("toolbar", name="Actions").get_by_role("button", name=name, exact=True)


def start(served: Served, job_type: str, name: str, params: dict[str, Any], token: str | None = None) -> str:
    started = served.api(START_JOB, {"input": {"type": job_type, "name": name, "params": params}}, token=token)
    assert "job" in started["startJob"], started
    return started["startJob"]["job"]["id"]


def test_stop_then_resume_shows_stopping_stopped_and_finally_finished(tab: Tab):
    job_id = tab.served.start_job("detail stop resume", **LONG)
    page = detail(tab, job_id)
    heading = status(page)
    expect(heading).to_contain_text(re.compile("Running|Pending"))

    action(page, "Stop").click()
    expect(heading).to_contain_text(re.compile("Stopping|Stopped"))
    expect(heading).to_contain_text("Stopped")
    expect(page.get_by_label("Waiting reason")).to_contain_text("Stopped — Resume")
    history = page.get_by_role("table", name="History")
    expect(history.get_by_role("row").filter(has_text="Stop")).not_to_have_count(0)

    action(page, "Resume").click()
    # What was left of it.
    expect(heading).to_contain_text("Finished", timeout=90_000)
    expect(page.get_by_role("progressbar", name="Progress of detail stop resume")).to_have_attribute(
        "aria-valuenow", str(LONG["records"])
    )
    expect(history.get_by_role("row").filter(has_text="Resume")).to_have_count(1)


def test_force_stop_warns_that_data_may_be_inconsistent_and_ends_stopped(tab: Tab):
    job_id = tab.served.start_job("detail force stop", **LONG_WINDOWS)
    page = detail(tab, job_id)
    expect(status(page)).to_contain_text("Running")
    expect(action(page, "Force stop")).to_have_accessible_description(re.compile("stopping"))

    action(page, "Stop").click()
    expect(status(page)).to_contain_text("Stopping")
    expect(page.get_by_text(re.compile("may be inconsistent")).first).to_be_visible()
    action(page, "Force stop").click()
    dialog = page.get_by_role("dialog", name="Force stop this job?")
    expect(dialog).to_contain_text("may be inconsistent")
    dialog.get_by_role("button", name="Force stop").click()
    expect(status(page)).to_contain_text("Stopped")
    assert tab.served.job(job_id)["status"] == "STOPPED"


def test_cancel_asks_first_and_ends_canceled(tab: Tab):
    job_id = tab.served.start_job("detail cancel", **LONG)
    page = detail(tab, job_id)
    expect(status(page)).to_contain_text("Running")

    action(page, "Cancel").click()
    dialog = page.get_by_role("dialog", name="Cancel this job?")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_have_count(0)
    expect(status(page)).to_contain_text("Running")

    action(page, "Cancel").click()
    page.get_by_role("dialog", name="Cancel this job?").get_by_role("button", name="Cancel the job").click()
    expect(status(page)).to_contain_text("Canceled")
    expect(action(page, "Resume")).to_have_attribute("aria-disabled", "true")


def test_retry_failed_records_opens_a_new_job_over_just_the_failed_ones(tab: Tab):
    served = tab.served
    job_id = served.start_job("detail retry", records=40, steps=1, failRate=0.3)
    finished(served, job_id)
    failed = served.api("query ($id: ID!) { job(id: $id) { progress { failed } } }", {"id": job_id})["job"][
        "progress"
    ]["failed"]
    assert 0 < failed < 40
    page = detail(tab, job_id)
    expect(status(page)).to_contain_text("With errors")

    action(page, "Retry failed records").click()
    expect(page).not_to_have_url(re.compile(re.escape(job_id)))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"detail retry (retry of {failed} failed records)")
    expect(page.get_by_role("progressbar", name=re.compile("^Progress of detail retry \\(retry"))).to_have_attribute(
        "aria-valuemax", str(failed)
    )
    expect(page.get_by_text("Runs again")).to_be_visible()


def test_a_failed_records_journey_shows_its_error_and_step_timeline(tab: Tab):
    served = tab.served
    job_id = served.start_job("detail journey", records=20, steps=3, failRate=0.5)
    finished(served, job_id)
    page = tab.sign_in(f"/jobs/{job_id}?records=FAILED")
    records = page.get_by_role("table", name="Failed records")
    records.get_by_role("link").first.click()

    expect(page).to_have_url(re.compile("/records/"))
    expect(page.get_by_label("Status").first).to_contain_text("Failed")
    expect(page.get_by_label("Error")).to_contain_text("seeded failure")
    steps = page.get_by_role("list", name="Steps").get_by_role("listitem")
    expect(steps).to_have_count(3)
    expect(steps.last).to_contain_text("Failed")
    expect(steps.first).to_contain_text("Succeeded")


def test_approving_a_waiting_campaign_record_lets_it_continue(tab: Tab):
    served = tab.served
    params = {"contacts": 3, "approvalRate": 1, "segmentMissRate": 0, "failRate": 0, "latencyScale": 0}
    job_id = start(served, "campaign_run", "detail approval", params)
    eventually(lambda: served.job(job_id)["status"] == "WAITING", "the campaign to wait")
    page = detail(tab, job_id)
    reason = page.get_by_label("Waiting reason")
    expect(reason).to_contain_text("Waiting for an answer")
    reason.get_by_role("button", name="Open the waiting records").click()
    waiting = page.get_by_role("table", name="Waiting records")
    expect(waiting.get_by_role("link")).to_have_count(3)
    waiting.get_by_role("link").first.click()

    expect(page.get_by_label("Status").first).to_contain_text("Waiting")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_label("Status").first).to_contain_text("Succeeded")
    approve = page.get_by_role("list", name="Steps").get_by_role("listitem", name="approve")
    expect(approve).to_contain_text("answered by")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)


def test_a_viewer_sees_no_enabled_action_and_each_says_why(tab: Tab):
    served = tab.served
    viewer = served.cli("token", "create", "--tenant", "demo", "--role", "VIEWER", "--name", "Vera")
    job_id = served.start_job("detail viewer", **LONG)
    page = detail(tab, job_id, token=viewer, role="VIEWER")
    expect(status(page)).to_contain_text(re.compile("Running|Pending"))

    buttons = page.get_by_role("toolbar", name="Actions").get_by_role("button")
    expect(buttons).to_have_count(8)
    for button in buttons.all():
        expect(button).to_be_disabled()
        expect(button).to_have_accessible_description(re.compile("Needs the (OPERATOR|ADMIN) role; you are VIEWER"))
    action(page, "Stop").click(force=True)  # a disabled control does nothing
    expect(status(page)).to_contain_text(re.compile("Running|Pending|Finished"))
    served.api(CANCEL, {"id": job_id})


def test_another_tenants_job_in_the_url_is_not_found(tab: Tab):
    served = tab.served
    served.cli("tenant", "create", "rival")
    rival = served.cli("token", "create", "--tenant", "rival", "--role", "ADMIN", "--name", "Rita")
    theirs = start(served, "noop", "rival secret", {"records": 2, "steps": 1}, token=rival)
    page = tab.sign_in(f"/jobs/{theirs}")
    expect(page.get_by_role("heading", name="Job not found")).to_be_visible()
    expect(page.get_by_text("rival secret")).to_have_count(0)


def test_the_chunk_map_draws_one_cell_per_chunk_and_a_cell_lists_its_records(tab: Tab):
    served = tab.served
    job_id = served.start_job("detail chunk map", records=250, steps=1, chunkSize=1)
    finished(served, job_id)
    chunks = served.api(FRESH, {"id": job_id})["job"]["chunks"]["totalCount"]
    assert chunks == 250
    page = detail(tab, job_id)
    cells = page.get_by_role("group", name="Chunk map").get_by_role("button")
    expect(cells).to_have_count(chunks)
    expect(cells.first).to_have_accessible_name(re.compile(r"^Chunk \d+: Completed$"))

    cells.nth(7).click()
    records = page.get_by_role("table", name=re.compile(r"^Records of chunk \d+$"))
    expect(records.get_by_role("link")).to_have_count(1)


def test_after_a_cut_websocket_reconnects_the_detail_equals_a_fresh_query(tab: Tab):
    served = tab.served
    sockets: list[WebSocketRoute] = []
    refuse = {"now": False}

    def through(socket: WebSocketRoute) -> None:
        if refuse["now"]:
            socket.close()
            return
        socket.connect_to_server()
        sockets.append(socket)

    tab.page.route_web_socket(re.compile("/graphql$"), through)
    job_id = served.start_job("detail reconnect", **LONG)
    page = detail(tab, job_id)
    live = page.get_by_role("status", name="Updates")
    expect(live).to_have_text("Live")

    refuse["now"] = True
    for socket in sockets:
        socket.close()
    expect(live).to_have_text("Reconnecting")
    served.api(STOP, {"id": job_id})  # moves on while the page cannot hear it
    eventually(lambda: served.job(job_id)["status"] == "STOPPED", "the job to stop")
    refuse["now"] = False

    expect(live).to_have_text("Live")
    fresh = served.api(FRESH, {"id": job_id})["job"]
    expect(status(page)).to_contain_text("Stopped")
    expect(page.get_by_label("Last event")).to_have_text(f"#{fresh['seq']}")
    expect(page.get_by_role("progressbar", name="Progress of detail reconnect")).to_have_attribute(
        "aria-valuenow", str(fresh["progress"]["done"])
    )


def test_screenshots_of_the_job_detail_and_the_record_journey(open_tab, served: Served):
    job_id = served.start_job(
        "screenshot detail", records=400, steps=3, stepMs=30, failRate=0.1, chunkSize=10
    )
    finished(served, job_id)
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        for scheme in ("light", "dark"):
            tab = open_tab(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = tab.sign_in(f"/jobs/{job_id}?records=FAILED")
            expect(page.get_by_role("group", name="Chunk map").get_by_role("button")).to_have_count(40)
            expect(page.get_by_role("table", name="History").get_by_role("row").filter(has_text="Work done")).to_be_visible()
            records = page.get_by_role("table", name="Failed records")
            expect(records.get_by_role("link").first).to_be_visible()
            page.screenshot(path=folder / f"job-{width}-{scheme}.png")
            records.get_by_role("link").first.click()
            expect(page.get_by_role("list", name="Steps").get_by_role("listitem")).to_have_count(3)
            page.screenshot(path=folder / f"record-{width}-{scheme}.png", full_page=True)
