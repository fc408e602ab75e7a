"""The Jobs page across outages: the API process or Redis restarted while the console is open.

Here the API, a worker, the dispatcher and Redis run as separate processes (``jobtower serve``
runs them in one), so each can be restarted alone; ``served`` is overridden for this module.
A second API process stands for the rest of the deployment: bots start jobs through it while
the console's own API process is down.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, expect

from tests.cluster import FAST_SETTINGS, Cluster
from tests.console.conftest import Served, Tab, eventually, finished
from tests.services import free_port
from workers.redis_server import EmbeddedRedis

# Runs for several seconds: 40 chunks of 50 records, each record's one step sleeps 300 ms.
LONG = {"records": 2000, "steps": 1, "stepMs": 300, "chunkSize": 50}
SHORT = {"records": 10, "steps": 1, "stepMs": 10}
RECOVERY_SECONDS = 90
NEWCOMERS = 3
# What one jobs(first:) returns at most.
MOST_RUNS_PER_QUERY = 100
# Scrolls the run list to its end; true once the run at `position` is drawn.
SCROLL_TO_THE_END = """position => {
    const box = document.querySelector(".run-scroll");
    box.scrollTop = box.scrollHeight;
    return box.querySelector(`li[aria-posinset="${position}"]`) !== null;
}"""
# True once the progress bar labelled `label` shows at least `done` records done.
SHOWS_AT_LEAST = """([label, done]) => {
    const bar = document.querySelector(`[role="progressbar"][aria-label="${label}"]`);
    return Number(bar?.getAttribute("aria-valuenow")) >= done;
}"""
LISTED = """query ($search: String) { jobs(first: 100, filter: {search: $search}) {
  edges { node { name status } } } }"""


@dataclass
class Deployment:
    cluster: Cluster
    redis: EmbeddedRedis
    console_port: int
    console: Served
    # The other API process, which stays up.
    bots: Served

    @contextmanager
    def api_down(self) -> Iterator[None]:
        """The console's API process stopped; started again, on the same port, on leaving."""
        self.cluster.kill("api", signal.SIGTERM)
        yield
        self.cluster.start_api(self.console_port)

    @contextmanager
    def redis_down(self) -> Iterator[None]:
        """Redis stopped; started again empty, on the same port, on leaving."""
        self.redis.stop()
        yield
        self.redis.start()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("console-deployment")
    data = folder / "data"
    redis = EmbeddedRedis(folder / "redis")
    redis.start()
    cluster = Cluster(
        database_url=f"sqlite://{(data / 'jobtower.db').resolve()}",
        redis_url=redis.url,
        log_dir=folder / "logs",
        settings={**FAST_SETTINGS, "data_dir": data},
    )
    console_port, bots_port = free_port(), free_port()
    try:
        setup = Served(url="", token="", log=Path(), data=data)
        setup.cli("migrate")
        setup.cli("tenant", "create", "demo", "--name", "Demo")
        token = setup.cli("token", "create", "--tenant", "demo", "--role", "ADMIN", "--name", "operator")
        cluster.start_worker()
        cluster.start_dispatcher()
        cluster.start_api(console_port)
        cluster.start_api(bots_port, name="bots api")
        yield Deployment(
            cluster=cluster,
            redis=redis,
            console_port=console_port,
            console=Served(f"http://127.0.0.1:{console_port}", token, cluster.log_dir / "api.log", data),
            bots=Served(f"http://127.0.0.1:{bots_port}", token, cluster.log_dir / "bots api.log", data),
        )
    finally:
        cluster.stop_all()
        redis.stop()


@pytest.fixture(scope="module")
def served(deployment: Deployment) -> Served:
    """The console's API process: what the ``tab`` fixture opens."""
    return deployment.console


def shown_runs(tab: Tab) -> list[str]:
    return [item.get_by_role("link").first.inner_text() for item in tab.runs().all()]


def expect_the_list_the_api_shows(tab: Tab, search: str) -> None:
    """Each run the API lists is on the page once, in the same order, with the same status."""
    jobs = [edge["node"] for edge in tab.served.api(LISTED, {"search": search})["jobs"]["edges"]]
    expect(tab.runs()).to_have_count(len(jobs))
    assert shown_runs(tab) == [job["name"] for job in jobs]
    for job in jobs:
        expect(tab.run(job["name"]).get_by_label("Status")).to_contain_text(job["status"].capitalize())


@dataclass
class Listed:
    """The page as an outage begins: two runs listed, one of them running."""

    updates: Locator
    running: str
    rows: list[str]


def listed_before_an_outage(tab: Tab, name: str) -> Listed:
    served = tab.served
    finished(served, served.start_job(f"{name} done before", **SHORT))
    running = served.start_job(f"{name} running", **LONG)
    page = tab.sign_in(f"/jobs?q={name.replace(' ', '+')}")
    updates = page.get_by_role("status", name="Updates")
    expect(updates).to_have_text("Live")
    row = tab.run(f"{name} running")
    expect(row.get_by_label("Status")).to_contain_text("Running")
    # An event was applied: the console knows where the stream stood.
    expect(row.get_by_role("progressbar")).not_to_have_attribute("aria-valuenow", "0")
    return Listed(updates=updates, running=running, rows=shown_runs(tab))


def shows_what_happened_meanwhile(tab: Tab, bots: Served, name: str, listed: Listed, newcomers: list[str]) -> None:
    """Live again; the running run finished in place, no row came, went or moved, the runs
    started meanwhile are counted once; after Refresh the page lists what the API does."""
    for job_id in [listed.running, *newcomers]:
        finished(bots, job_id, timeout=RECOVERY_SECONDS)
    expect(listed.updates).to_have_text("Live", timeout=RECOVERY_SECONDS * 1000)
    row = tab.run(f"{name} running")
    expect(row.get_by_label("Status")).to_contain_text("Finished")
    done = bots.job(listed.running)["progress"]["done"]
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", str(done))
    pill = tab.page.get_by_role("button", name=f"{len(newcomers)} new · Refresh")
    expect(pill).to_be_visible()
    assert shown_runs(tab) == listed.rows
    pill.click()
    expect(pill).to_have_count(0)
    expect_the_list_the_api_shows(tab, name)
    assert len(set(shown_runs(tab))) == len(listed.rows) + len(newcomers)


def start_newcomers(bots: Served, name: str) -> list[str]:
    return [bots.start_job(f"{name} newcomer {number}", **SHORT) for number in range(NEWCOMERS)]


def test_the_api_restarted_under_an_open_console_it_reconnects_and_shows_what_happened_meanwhile(
    tab: Tab, deployment: Deployment
):
    name = "api outage"
    listed = listed_before_an_outage(tab, name)
    with deployment.api_down():
        expect(listed.updates).to_have_text("Reconnecting")
        newcomers = start_newcomers(deployment.bots, name)
        # All of it ends while the console hears nothing.
        for job_id in [listed.running, *newcomers]:
            finished(deployment.bots, job_id, timeout=RECOVERY_SECONDS)
    shows_what_happened_meanwhile(tab, deployment.bots, name, listed, newcomers)


def test_redis_restarted_under_an_open_console_it_shows_what_happened_meanwhile(tab: Tab, deployment: Deployment):
    name = "redis outage"
    listed = listed_before_an_outage(tab, name)
    with deployment.redis_down():
        newcomers = start_newcomers(deployment.bots, name)
    shows_what_happened_meanwhile(tab, deployment.bots, name, listed, newcomers)


def test_redis_stopped_under_an_open_console_the_header_says_so_until_events_flow_again(
    tab: Tab, deployment: Deployment
):
    name = "redis interruption"
    listed = listed_before_an_outage(tab, name)
    progress = tab.run(f"{name} running").get_by_role("progressbar")
    with deployment.redis_down():
        expect(listed.updates).to_have_text("Interrupted")
        shown = int(progress.get_attribute("aria-valuenow") or 0)
        # The worker goes on with the chunk it holds; none of its progress can reach the page.
        meanwhile = eventually(
            lambda: (done := deployment.bots.job(listed.running)["progress"]["done"]) > shown and done,
            "progress made while Redis is away",
            timeout=RECOVERY_SECONDS,
        )
    expect(listed.updates).to_have_text("Live", timeout=RECOVERY_SECONDS * 1000)
    tab.page.wait_for_function(SHOWS_AT_LEAST, arg=[f"Progress of {name} running", meanwhile], polling=100)


def test_a_list_scrolled_past_what_one_query_returns_still_catches_up_after_a_restart(
    tab: Tab, deployment: Deployment
):
    name = "long list"
    served = tab.served
    # More runs than one jobs(first:) returns: a catch-up by query cannot cover them.
    for number in range(MOST_RUNS_PER_QUERY + 1):
        served.start_job(f"{name} filler {number}", records=0)
    listed = listed_before_an_outage(tab, name)
    # Scrolled to the last run: every page of the list is loaded.
    tab.page.wait_for_function(SCROLL_TO_THE_END, arg=MOST_RUNS_PER_QUERY + 3, polling=100)
    with deployment.api_down():
        expect(listed.updates).to_have_text("Reconnecting")
        finished(deployment.bots, listed.running, timeout=RECOVERY_SECONDS)
    expect(listed.updates).to_have_text("Live", timeout=RECOVERY_SECONDS * 1000)
    tab.page.get_by_role("list", name="Runs").evaluate("list => list.parentElement.scrollTo(0, 0)")
    expect(tab.run(f"{name} running").get_by_label("Status")).to_contain_text("Finished")
