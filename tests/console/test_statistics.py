"""The Statistics page in Chromium against ``jobtower serve``: its figures are the API's, its
range lives in the URL, and each chart's table twin holds what the chart draws."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from tests.console.conftest import Served, Tab, eventually, finished, screenshots_folder

STATISTICS = """
query ($from: DateTime!, $to: DateTime!, $bucket: StatsBucketSize!, $tenantId: ID, $type: String) {
  jobStatistics(from: $from, to: $to, bucket: $bucket, tenantId: $tenantId, type: $type) {
    buckets { start created started finished failed waitAvg waitMin waitMax waitP95
      durationAvg durationP95 recordsProcessed }
  }
}"""
FAILED = "query ($id: ID!) { job(id: $id) { status } }"
# The charts, by their heading, and the figures of their series in column order.
CHARTS = {
    "Jobs": ("count", ["created", "started", "finished", "failed"]),
    "Waiting time": ("seconds", ["waitAvg", "waitMin", "waitMax", "waitP95"]),
    "Duration": ("seconds", ["durationAvg", "durationP95"]),
    "Records processed": ("count", ["recordsProcessed"]),
}
# Reports every Content-Security-Policy violation the page would otherwise only log.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) =>
  window.__cspViolations.push(`${event.violatedDirective}: ${event.blockedURI}`));
"""


@pytest.fixture(scope="module")
def demo_jobs(served: Served) -> list[str]:
    """A few finished runs of the demo types and a failed import: figures to compare."""
    ids = [
        served.start_job("stats contacts", "contact_sync", contacts=60, latencyScale=0),
        served.start_job("stats noop", records=30, steps=1, stepMs=5),
        served.start_job("stats noop again", records=12, steps=2, stepMs=5),
    ]
    for job_id in ids:
        finished(served, job_id, timeout=60)
    broken = served.start_job("stats broken import", "data_import", rows=50, malformedAtRow=5, latencyScale=0)
    eventually(lambda: served.api(FAILED, {"id": broken})["job"]["status"] == "FAILED", "the import to fail", 60)
    return [*ids, broken]


def bucket_label(start: str, bucket: str) -> str:
    moment = datetime.fromisoformat(start).astimezone(UTC)
    return moment.strftime("%Y-%m-%d" if bucket == "DAY" else "%Y-%m-%d %H:00")


def duration(seconds: float | None) -> str:
    """``formatDuration`` of the console, for the expected cells. JavaScript's ``Math.round``
    and ``toFixed`` round a tie up, where Python's ``round`` and format round it to even."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{math.floor(seconds * 1000 + 0.5)} ms"
    if seconds < 10:
        return f"{Decimal(seconds).quantize(Decimal('0.1'), ROUND_HALF_UP)} s"
    whole = math.floor(seconds)
    hours, minutes, rest = whole // 3600, whole % 3600 // 60, whole % 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {rest:02d} s"
    return f"{rest} s"


def cell(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if unit == "count" else duration(value)


def asked(request: Request) -> dict[str, Any]:
    return json.loads(request.post_data or "{}").get("variables", {})


def is_statistics(request: Request) -> bool:
    return "jobStatistics" in (request.post_data or "")


def open_statistics(tab: Tab, path: str, **sign_in: Any) -> tuple[Page, dict[str, Any]]:
    """Signs in on ``path``; the page and the variables of the statistics query it sent."""
    page = tab.page
    page.add_init_script(WATCH_CSP)
    with page.expect_request(is_statistics) as sent:
        tab.sign_in(path, **sign_in)
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    return page, asked(sent.value)


def table_rows(page: Page, chart: str) -> list[list[str]]:
    region = page.get_by_role("region", name=chart, exact=True)
    region.get_by_role("button", name="Show table").click()
    table = region.get_by_role("table")
    expect(table).to_be_visible()
    return [
        [text.strip() for text in row.locator("th, td").all_inner_texts()]
        for row in table.get_by_role("row").all()[1:]
    ]


def legend_at(page: Page, chart: str, share: float, labels: set[str], leaving: str | None = None) -> list[str]:
    """What the chart's legend reads with the pointer at ``share`` of the plot's width, once it
    names one of the ``labels`` (and no longer the bucket it named, ``leaving``)."""
    region = page.get_by_role("region", name=chart, exact=True)
    box = region.locator(".u-over").bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] * share, box["y"] + box["height"] / 2)
    values = region.locator(".u-legend .u-series .u-value")

    def read() -> list[str] | None:
        legend = [text.strip() for text in values.all_inner_texts()]
        return legend if legend and legend[0] in labels and legend[0] != leaving else None

    return eventually(read, f"the {chart} legend to follow the pointer")


def test_the_figures_are_the_apis_and_each_table_twin_holds_what_its_chart_draws(tab: Tab, demo_jobs):
    page, variables = open_statistics(tab, "/statistics?range=24h&bucket=hour")
    assert variables["bucket"] == "HOUR"
    span = datetime.fromisoformat(variables["to"]) - datetime.fromisoformat(variables["from"])
    assert span == timedelta(hours=24)
    direct = tab.served.api(STATISTICS, variables)["jobStatistics"]["buckets"]
    assert len(direct) == 24
    assert sum(bucket["created"] for bucket in direct) >= len(demo_jobs)

    totals = page.get_by_role("region", name="In this range")
    for label, figure in (("Created", "created"), ("Finished", "finished"), ("Failed", "failed")):
        expect(totals.get_by_label(label, exact=True)).to_have_text(f"{sum(b[figure] for b in direct):,}")
    expect(totals.get_by_label("Records processed", exact=True)).to_have_text(
        f"{sum(b['recordsProcessed'] for b in direct):,}"
    )

    for chart, (unit, figures) in CHARTS.items():
        rows = table_rows(page, chart)
        assert rows == [
            [bucket_label(bucket["start"], "HOUR"), *(cell(bucket[figure], unit) for figure in figures)]
            for bucket in direct
        ], chart
        # The chart's own data, read off its legend at the current hour and at an earlier one.
        by_hour = {row[0]: row for row in rows}
        latest = legend_at(page, chart, 0.999, set(by_hour))
        assert latest == rows[-1], chart
        earlier = legend_at(page, chart, 0.5, set(by_hour), leaving=latest[0])
        assert earlier == by_hour[earlier[0]], chart

    violations = page.evaluate("window.__cspViolations")
    assert violations == [], "uPlot draws within the Content-Security-Policy"


def test_the_range_and_bucket_are_in_the_url_and_survive_a_reload(tab: Tab, demo_jobs):
    page, _ = open_statistics(tab, "/statistics")
    range_group = page.get_by_role("group", name="Range")
    expect(range_group.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")

    with page.expect_request(is_statistics) as sent:
        range_group.get_by_role("button", name="30 days").click()
    expect(page).to_have_url(re.compile(r"range=30d"))
    assert asked(sent.value)["bucket"] == "DAY", "a month reads in days unless hours are asked for"

    with page.expect_request(is_statistics) as sent:
        page.get_by_label("Bucket").select_option("hour")
    expect(page).to_have_url(re.compile(r"bucket=hour"))
    hourly = asked(sent.value)
    assert hourly["bucket"] == "HOUR"
    assert datetime.fromisoformat(hourly["to"]) - datetime.fromisoformat(hourly["from"]) == timedelta(days=30)

    with page.expect_request(is_statistics) as sent:
        page.reload()
    reloaded = asked(sent.value)
    assert reloaded["bucket"] == "HOUR"
    assert datetime.fromisoformat(reloaded["to"]) - datetime.fromisoformat(reloaded["from"]) == timedelta(days=30)
    expect(page.get_by_role("group", name="Range").get_by_role("button", name="30 days")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.get_by_label("Bucket")).to_have_value("hour")

    today = datetime.now(UTC).date()
    with page.expect_request(lambda r: is_statistics(r) and asked(r)["to"].startswith(str(today + timedelta(1)))):
        page.get_by_label("From (UTC)").fill(str(today - timedelta(days=2)))
    expect(page).to_have_url(re.compile(rf"from={today - timedelta(days=2)}&to={today}|to={today}.*from="))
    with page.expect_request(is_statistics) as sent:
        page.reload()
    days = asked(sent.value)
    assert (days["from"][:10], days["to"][:10], days["bucket"]) == (
        str(today - timedelta(days=2)),
        str(today + timedelta(days=1)),
        "HOUR",
    )
    expect(page.get_by_role("group", name="Range").get_by_role("button", name="30 days")).to_have_attribute(
        "aria-pressed", "false"
    )

    page.go_back()
    expect(page).to_have_url(re.compile(r"range=30d&bucket=hour|bucket=hour&range=30d"))


def test_the_type_filter_narrows_the_figures_and_only_the_platform_picks_a_tenant(tab: Tab, demo_jobs):
    page, _ = open_statistics(tab, "/statistics?range=24h")
    expect(page.get_by_label("Tenant")).to_have_count(0)
    with page.expect_request(is_statistics) as sent:
        page.get_by_label("Type").select_option("data_import")
    variables = asked(sent.value)
    assert variables["type"] == "data_import"
    expect(page).to_have_url(re.compile(r"type=data_import"))
    direct = tab.served.api(STATISTICS, variables)["jobStatistics"]["buckets"]
    expect(page.get_by_role("region", name="In this range").get_by_label("Failed", exact=True)).to_have_text(
        str(sum(bucket["failed"] for bucket in direct))
    )

    platform = tab.served.cli("token", "create", "--tenant", "demo", "--role", "PLATFORM")
    page.get_by_role("button", name="Sign out").click()
    with page.expect_request(is_statistics):
        tab.sign_in("/statistics?range=24h", token=platform, role="PLATFORM")
    with page.expect_request(is_statistics) as sent:
        page.get_by_label("Tenant").select_option(label="Demo")
    assert sent.value and asked(sent.value)["tenantId"]
    expect(page).to_have_url(re.compile(r"tenant="))
    expect(page.get_by_role("region", name="In this range").get_by_label("Created", exact=True)).not_to_have_text("0")


CANVAS = "region => region.querySelector('canvas').toDataURL()"


def test_the_charts_follow_the_colour_scheme(tab: Tab, demo_jobs):
    page, _ = open_statistics(tab, "/statistics?range=24h")
    jobs = page.get_by_role("region", name="Jobs", exact=True)
    light = jobs.evaluate(CANVAS)
    page.emulate_media(color_scheme="dark")
    page.wait_for_function(
        "([region, before]) => region.querySelector('canvas').toDataURL() !== before",
        arg=[jobs.element_handle(), light],
    )
    page.emulate_media(color_scheme="light")
    page.wait_for_function(
        "([region, before]) => region.querySelector('canvas').toDataURL() === before",
        arg=[jobs.element_handle(), light],
    )


def test_screenshots_of_statistics_at_two_widths_in_both_themes(open_tab, demo_jobs):
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        for scheme in ("light", "dark"):
            tab = open_tab(viewport={"width": width, "height": height}, color_scheme=scheme)
            page, _ = open_statistics(tab, "/statistics?range=24h&bucket=hour")
            expect(page.get_by_role("region", name="Jobs", exact=True).locator("canvas")).to_be_visible()
            page.screenshot(path=folder / f"statistics-{width}-{scheme}.png", full_page=True)
            assert page.evaluate("window.__cspViolations") == []
