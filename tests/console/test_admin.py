"""The Admin page in Chromium against ``jobtower serve``: API tokens (the secret shown once),
monthly limits against this month's usage, and the Sync Size of each job type.

Each test that changes limits or Sync Sizes does it in a tenant of its own: the demo tenant's
jobs of the other tests must not meet them."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import Served, Tab, eventually, screenshots_folder

VIEWER = "{ viewer { name role tenant { slug } } }"
CHUNK_SIZE = "query ($id: ID!) { job(id: $id) { chunkSize } }"
SYNC_SIZES = "{ jobTypes { name defaultChunkSize allowedChunkSizes syncSize } }"
LIMITS = "mutation ($input: SetTenantLimitsInput!) { setTenantLimits(input: $input) { __typename } }"


def tenant_admin(served: Served, slug: str) -> str:
    """A tenant of the test's own, and its admin's token."""
    served.cli("tenant", "create", slug)
    return served.cli("token", "create", "--tenant", slug, "--role", "ADMIN", "--name", f"{slug} admin")


def admin(tab: Tab, token: str | None = None) -> Page:
    page = tab.sign_in("/admin", token=token)
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    return page


def refused(served: Served, token: str) -> str | None:
    """The code the API answers a request made with `token` with, or None when it is accepted."""
    body = httpx.post(
        f"{served.url}/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {token}"}, timeout=30
    ).json()
    return body["errors"][0]["extensions"]["code"] if "errors" in body else None


def test_a_new_token_is_shown_once_works_and_once_revoked_is_refused(tab: Tab):
    served = tab.served
    page = admin(tab, tenant_admin(served, "tokens"))
    form = page.get_by_role("form", name="New API token")

    form.get_by_role("button", name="Create token").click()
    expect(form.get_by_label("Token name")).to_have_accessible_description(re.compile("^must not be blank"))

    form.get_by_label("Token name").fill("CI bot")
    form.get_by_label("Role").select_option("OPERATOR")
    form.get_by_role("button", name="Create token").click()
    shown = page.get_by_role("region", name="New token “CI bot”")
    expect(shown).to_contain_text("can't be shown again")
    secret = shown.get_by_label("New token secret").input_value()
    assert served.api(VIEWER, token=secret)["viewer"] == {"name": "CI bot", "role": "OPERATOR", "tenant": {"slug": "tokens"}}

    row = page.get_by_role("row", name="CI bot")
    prefix = row.get_by_role("cell").nth(2).text_content().rstrip("…")
    assert len(prefix) >= 4 and secret.startswith(prefix)
    expect(row).to_contain_text("OPERATOR")
    expect(row).to_contain_text("Active")
    shown.get_by_role("button", name="Done").click()
    expect(shown).to_have_count(0)
    assert secret not in page.content()

    row.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog", name="Revoke “CI bot”?")
    dialog.get_by_role("button", name="Keep it").click()
    assert refused(served, secret) is None
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog", name="Revoke “CI bot”?").get_by_role("button", name="Revoke token").click()
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_accessible_description("It is already revoked.")
    assert refused(served, secret) == "UNAUTHENTICATED"


def test_a_jobs_limit_shows_this_months_usage_against_it(tab: Tab):
    served = tab.served
    token = tenant_admin(served, "limits")
    page = admin(tab, token)
    jobs = page.get_by_role("progressbar", name="Jobs this month")
    expect(jobs).to_have_count(0)  # no limit, no bar
    limits = page.get_by_role("form", name="Monthly limits")

    limits.get_by_label("Jobs per month").fill("-1")
    limits.get_by_role("button", name="Save limits").click()
    expect(limits.get_by_label("Jobs per month")).to_have_accessible_description(re.compile("^must not be negative"))

    limits.get_by_label("Jobs per month").fill("3")
    limits.get_by_role("button", name="Save limits").click()
    expect(limits.get_by_role("status")).to_have_text("Limits saved.")
    expect(jobs).to_have_attribute("aria-valuemax", "3")
    expect(jobs).to_have_attribute("aria-valuenow", "0")

    served.start_job("limited run", token=token, records=5, steps=1)
    page.get_by_role("button", name="Refresh").click()
    expect(jobs).to_have_attribute("aria-valuenow", "1")
    expect(jobs).to_have_attribute("aria-valuetext", "1 used of 3 jobs")
    records = page.get_by_role("region", name="Monthly limits")
    expect(records).to_contain_text(re.compile(r"used.* · no limit"))
    expect(limits.get_by_label("Records per month")).to_have_value("")

    limits.get_by_label("Records per month").fill("1000")
    limits.get_by_role("button", name="Save limits").click()
    counted = page.get_by_role("progressbar", name="Records this month")
    expect(counted).to_have_attribute("aria-valuemax", "1000")
    expect(counted).to_have_attribute("aria-valuenow", "5")  # used, or reserved while it runs
    limits.get_by_label("Jobs per month").fill("")
    limits.get_by_role("button", name="Save limits").click()
    expect(jobs).to_have_count(0)


def test_an_operator_is_refused_the_admin_page(tab: Tab):
    served = tab.served
    operator = served.cli("token", "create", "--tenant", "demo", "--role", "OPERATOR", "--name", "Olga")
    page = tab.sign_in("/jobs", token=operator, role="OPERATOR")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Admin").click()
    expect(page).to_have_url(re.compile("/admin$"))
    expect(page.get_by_role("heading", name="Admin needs the ADMIN role")).to_be_visible()
    expect(page.get_by_text("Needs the ADMIN role; you are OPERATOR.")).to_be_visible()
    expect(page.get_by_role("heading", name="API tokens")).to_have_count(0)
    expect(page.get_by_role("form")).to_have_count(0)


def test_a_chosen_sync_size_is_the_chunk_size_of_jobs_that_name_none(tab: Tab):
    served = tab.served
    token = tenant_admin(served, "sync")
    noop = next(found for found in served.api(SYNC_SIZES, token=token)["jobTypes"] if found["name"] == "noop")
    chosen = next(size for size in noop["allowedChunkSizes"] if size != noop["defaultChunkSize"])
    page = admin(tab, token)
    size = page.get_by_label("Sync Size for No-op")
    expect(size).to_have_value(str(noop["defaultChunkSize"]))
    expect(size.locator("option", has_text="(default)")).to_have_attribute("value", str(noop["defaultChunkSize"]))

    size.select_option(str(chosen))
    form = page.get_by_role("form", name="Sync Size of No-op")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("listitem").filter(has=form).get_by_role("status")).to_contain_text("New No-op jobs start")
    expect(form.get_by_role("button", name="Save")).to_be_disabled()
    job = served.start_job("sized by the tenant", token=token, records=2, steps=1)
    assert served.api(CHUNK_SIZE, {"id": job}, token=token)["job"]["chunkSize"] == chosen

    size.select_option(str(noop["defaultChunkSize"]))
    form.get_by_role("button", name="Save").click()
    eventually(
        lambda: next(t for t in served.api(SYNC_SIZES, token=token)["jobTypes"] if t["name"] == "noop")["syncSize"]
        == noop["defaultChunkSize"],
        "the default Sync Size again",
    )
    job = served.start_job("sized by default", token=token, records=2, steps=1)
    assert served.api(CHUNK_SIZE, {"id": job}, token=token)["job"]["chunkSize"] == noop["defaultChunkSize"]


def test_screenshots_of_the_admin_page_at_two_widths_in_both_themes(open_tab, served: Served):
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    served.start_job("screenshot usage", records=20, steps=1)
    # The demo tenant's limits, for the bars; the other tests' jobs meet no limit once it is done.
    served.api(LIMITS, {"input": {"monthlyJobs": 200, "monthlyRecords": 100_000}})
    try:
        for width, height in ((1280, 800), (390, 844)):
            for scheme in ("light", "dark"):
                tab = open_tab(viewport={"width": width, "height": height}, color_scheme=scheme)
                page = admin(tab)
                expect(page.get_by_role("progressbar", name="Jobs this month")).to_be_visible()
                form = page.get_by_role("form", name="New API token")
                form.get_by_label("Token name").fill(f"Report bot {width} {scheme}")
                form.get_by_role("button", name="Create token").click()
                expect(page.get_by_label("New token secret")).to_be_visible()
                expect(page.get_by_label("Sync Size for No-op")).to_be_visible()
                page.screenshot(path=folder / f"admin-{width}-{scheme}.png", full_page=True)
    finally:
        served.api(LIMITS, {"input": {"monthlyJobs": None, "monthlyRecords": None}})
