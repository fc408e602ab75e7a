"""The console in a real Chromium against a real ``jobtower serve``: what an operator sees and does."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import expect

from tests.console.conftest import Served, Tab, finished, screenshots_folder

# Slow enough to watch it grow: 40 chunks of 50 records, each record's one step sleeps 300 ms.
GROWING = {"records": 2000, "steps": 1, "stepMs": 300, "chunkSize": 50}


def progress_now(tab: Tab, name: str) -> int:
    value = tab.run(name).get_by_role("progressbar").get_attribute("aria-valuenow")
    return int(value or 0)


def test_the_console_page_is_served_with_a_strict_csp_and_deep_links_get_it_too(served: Served):
    with httpx.Client(base_url=served.url, timeout=30) as http:
        home = http.get("/", headers={"accept": "text/html"})
        deep = http.get("/jobs?status=RUNNING&run=abc", headers={"accept": "text/html"})
        api_miss = http.get("/no-such-endpoint", headers={"accept": "application/json"})
        asset = re.search(r'src="(/assets/[^"]+\.js)"', home.text)
        assert asset, home.text
        script = http.get(asset.group(1))
        query = http.get(
            "/graphql",
            params={"query": "{ viewer { role } }"},
            headers={"authorization": f"Bearer {served.token}"},
        )
        browser_on_graphql = http.get("/graphql", headers={"accept": "text/html"})

    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert home.headers["cache-control"] == "no-cache"
    policy = home.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert deep.status_code == 200 and deep.text == home.text
    assert api_miss.status_code == 404
    assert script.status_code == 200 and "immutable" in script.headers["cache-control"]
    assert query.json() == {"data": {"viewer": {"role": "ADMIN"}}}
    # GraphiQL's own page, which names no other origin (test_graphiql.py looks at it closely).
    assert "<title>Jobtower GraphiQL</title>" in browser_on_graphql.text
    assert not re.search(r"(https?:)?//", browser_on_graphql.text)


def test_sign_in_with_the_admin_token_shows_tenant_and_role_and_sign_out_forgets_it(tab: Tab):
    page = tab.sign_in()

    who = page.get_by_label("Signed in as")
    expect(who).to_contain_text("Demo")
    expect(who).to_contain_text("ADMIN")
    assert tab.served.token not in page.url
    page.reload()
    expect(page.get_by_label("Signed in as")).to_contain_text("ADMIN")  # kept for this tab

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    page.reload()
    expect(page.get_by_label("API token")).to_be_visible()


def test_a_bad_token_shows_that_it_was_refused(tab: Tab):
    page = tab.open()
    page.get_by_label("API token").fill("jt_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Your token was refused")
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.get_by_label("Signed in as")).to_have_count(0)


def test_a_job_started_elsewhere_raises_the_new_pill_and_refresh_shows_its_progress_grow(tab: Tab):
    page = tab.sign_in()
    expect(page.get_by_role("status", name="Updates")).to_have_text("Live")
    tab.served.start_job("pill and refresh", **GROWING)

    pill = page.get_by_role("button", name="1 new · Refresh")
    expect(pill).to_be_visible()
    expect(tab.run("pill and refresh")).to_have_count(0)  # counted, not inserted under the reader
    pill.click()
    run = tab.run("pill and refresh")
    expect(run).to_be_visible()
    expect(pill).to_have_count(0)

    first = progress_now(tab, "pill and refresh")
    page.get_by_role("button", name="Refresh", exact=True).click()
    expect(run.get_by_role("progressbar")).not_to_have_attribute("aria-valuenow", str(first))
    assert progress_now(tab, "pill and refresh") > first


def test_live_updates_change_cells_in_place_and_never_move_a_row(tab: Tab):
    served = tab.served
    for name in ("calm one", "calm two", "calm three"):
        served.start_job(name, records=20, steps=1)
    served.start_job("calm growing", **GROWING)
    page = tab.sign_in("/jobs?q=calm")
    growing = tab.run("calm growing")
    expect(growing).to_be_visible()
    expect(tab.runs()).to_have_count(4)
    expect(page.get_by_role("status", name="Updates")).to_have_text("Live")

    def layout() -> list[tuple[str, dict]]:
        return [
            (item.get_by_role("link").first.inner_text(), item.bounding_box())
            for item in tab.runs().all()
        ]

    before = layout()
    seen = {progress_now(tab, "calm growing")}
    # A burst: progress events of the growing run, and a new run the filter matches.
    served.start_job("calm newcomer", records=20, steps=1)
    while len(seen) < 4:
        expect(growing.get_by_role("progressbar")).not_to_have_attribute(
            "aria-valuenow", str(progress_now(tab, "calm growing"))
        )
        seen.add(progress_now(tab, "calm growing"))
        assert layout() == before
    expect(page.get_by_role("button", name="1 new · Refresh")).to_be_visible()
    assert layout() == before
    assert sorted(seen) == sorted(seen, key=int)  # it only grew


def test_a_deep_link_reloads_the_same_view_and_back_and_forward_move_through_filters(tab: Tab):
    served = tab.served
    job_id = served.start_job("deep link target", records=30, steps=1, failRate=0.3)
    page = tab.sign_in(f"/jobs?q=deep+link&run={job_id}")
    heading = page.get_by_role("heading", name="Records of deep link target")
    expect(heading).to_be_visible()
    expect(tab.runs()).to_have_count(1)
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("deep link")

    page.reload()
    expect(heading).to_be_visible()
    expect(tab.runs()).to_have_count(1)
    page.get_by_role("button", name="Refresh", exact=True).click()
    table = page.get_by_role("table", name="Records of deep link target")
    records = table.get_by_role("row")
    expect(table).to_have_attribute("aria-rowcount", "31")  # a header and every record once the job finished

    page.get_by_label("Record status").select_option("FAILED")
    expect(page).to_have_url(re.compile(r"records=FAILED"))
    expect(records.filter(has_text="seeded failure").first).to_be_visible()
    expect(records.filter(has_not_text="seeded failure")).to_have_count(1)  # the header alone
    failed = records.count() - 1
    assert 0 < failed < 30

    page.go_back()
    expect(table).to_have_attribute("aria-rowcount", "31")
    expect(records.filter(has_not_text="seeded failure").nth(1)).to_be_visible()
    page.go_forward()
    expect(records).to_have_count(failed + 1)


def test_no_request_leaves_the_origin(tab: Tab):
    tab.served.start_job("stays home", records=10, steps=1)
    page = tab.sign_in()
    tab.run("stays home").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Records of stays home")).to_be_visible()
    expect(page.get_by_role("status", name="Updates")).to_have_text("Live")

    origin = urlsplit(tab.served.url).netloc
    assert tab.requested
    assert {urlsplit(url).netloc for url in tab.requested} == {origin}, tab.requested


def test_screenshots_of_sign_in_and_jobs_at_two_widths_in_both_themes(open_tab, served: Served):
    served.start_job("screenshot mixed results", records=400, steps=2, failRate=0.1)
    served.start_job("screenshot running", **GROWING)
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        for scheme in ("light", "dark"):
            tab = open_tab(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = tab.open()
            expect(page.get_by_label("API token")).to_be_visible()
            page.screenshot(path=folder / f"signin-{width}-{scheme}.png")
            tab.sign_in()
            expect(tab.run("screenshot running")).to_be_visible()
            page.screenshot(path=folder / f"jobs-{width}-{scheme}.png")
            mixed = tab.run("screenshot mixed results")
            expect(mixed.get_by_label("Status")).to_contain_text("With errors")
            mixed.get_by_role("link").first.click()
            records = page.get_by_role("table", name="Records of screenshot mixed results").get_by_role("row")
            expect(records.filter(has_text="seeded failure").first).to_be_visible()
            page.screenshot(path=folder / f"records-{width}-{scheme}.png")
    assert len(list(folder.glob("*.png"))) >= 12


# The tab as the browser reports it when the user switches away or back.
SET_VISIBILITY = """state => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_hidden_tab_pauses_and_shown_again_catches_up_on_what_it_missed(tab: Tab):
    served = tab.served
    job_id = served.start_job("hidden tab", **GROWING)
    page = tab.sign_in("/jobs?q=hidden+tab")
    updates = page.get_by_role("status", name="Updates")
    run = tab.run("hidden tab")
    expect(run.get_by_label("Status")).to_contain_text("Running")
    expect(updates).to_have_text("Live")

    page.evaluate(SET_VISIBILITY, "hidden")
    expect(updates).to_have_text("Paused")
    shown = progress_now(tab, "hidden tab")
    fresh = finished(served, job_id, timeout=60)
    assert fresh["progress"]["done"] > shown  # the job moved on while the tab was hidden
    assert progress_now(tab, "hidden tab") == shown  # and the hidden tab heard nothing of it

    page.evaluate(SET_VISIBILITY, "visible")
    expect(updates).to_have_text("Live")
    expect(run.get_by_label("Status")).to_contain_text("Finished")
    expect(run.get_by_role("progressbar")).to_have_attribute("aria-valuenow", str(fresh["progress"]["done"]))
    assert fresh == served.job(job_id)


def test_the_run_by_filter_lists_one_principals_runs_and_a_reload_keeps_it(tab: Tab):
    served = tab.served
    other = served.cli("token", "create", "--tenant", "demo", "--role", "OPERATOR", "--name", "Otto")
    served.start_job("owned by admin", records=5, steps=1)
    served.start_job("owned by otto", token=other, records=5, steps=1)
    page = tab.sign_in("/jobs?q=owned+by")
    expect(tab.runs()).to_have_count(2)

    run_by = page.get_by_role("combobox", name="Run by")
    run_by.select_option(label="Otto")
    expect(page).to_have_url(re.compile(r"[?&]by="))
    expect(tab.run("owned by otto")).to_be_visible()
    expect(tab.runs()).to_have_count(1)

    page.reload()
    expect(run_by.locator("option:checked")).to_have_text("Otto")
    expect(tab.run("owned by otto")).to_be_visible()
    expect(tab.runs()).to_have_count(1)

    page.go_back()
    expect(tab.runs()).to_have_count(2)

    run_by.select_option(label="Me")  # the signed-in admin
    expect(tab.run("owned by admin")).to_be_visible()
    expect(tab.runs()).to_have_count(1)


CHILDREN = "query ($id: ID!) { job(id: $id) { status childrenProgress { total done } } }"


def test_a_run_with_children_shows_their_progress_on_its_row(tab: Tab):
    served = tab.served
    job_id = served.start_job("children campaign", job_type="campaign_sequence", contacts=20, latencyScale=0)
    served.start_job("children none", records=5, steps=1)
    finished(served, job_id, timeout=60)
    children = served.api(CHILDREN, {"id": job_id})["job"]["childrenProgress"]
    assert children["total"] > 0, children

    tab.sign_in("/jobs?q=children")
    bar = tab.run("children campaign").get_by_role("progressbar", name="Children of children campaign")
    expect(bar).to_have_attribute("aria-valuemax", str(children["total"]))
    expect(bar).to_have_attribute("aria-valuenow", str(children["done"]))
    expect(bar).to_contain_text(f"{children['done']} / {children['total']}")
    # A run without children shows its own progress alone.
    expect(tab.run("children none").get_by_role("progressbar")).to_have_count(1)
