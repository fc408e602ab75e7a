"""Upgrades, on PostgreSQL and Redis with a deployment's processes started apart: a rolling
restart of every process under load, and ``jobtower migrate`` while the running release works.

Nothing is lost, no record gets a second outcome, and no client sees an error beyond a
reconnect. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from domain.access import Role
from domain.statuses import TERMINAL
from domain.tenants import create_token
from gql.http import GRAPHQL_RESPONSE_JSON
from gql.ids import from_global_id
from tests.cli import TIMEOUT_SECONDS, Jobtower, clean_environment
from tests.cluster import FAST_SETTINGS, REPO, Cluster, wait_until
from tests.conftest import TenantFixture
from tests.databases import fetch_rows, fresh_postgres_database
from tests.gql.failover import Requester, running
from tests.gql.support import gid
from tests.test_migrations import migration_names
from tests.workers.deployment import (
    SLOTS,
    finished_once_each,
    gap_free,
    start_deployment,
    start_workers,
    subscribers,
)
from tests.workers.support import reload, start, wait_for_records
from workers import keys

JOB_QUERY = """
query($id: ID!) {
  job(id: $id) { status progress { done total } }
  jobs(first: 5) { edges { node { id status } } }
}"""
# The processes clients and chunks live on, restarted one after the other as an upgrade does.
# (A dispatcher gives up the lead on SIGTERM; test_faults kills the leader outright.)
ROLLING_ORDER = ("worker-1", "worker-2", "api-0", "api-1")
RECORDS = 3000


async def restart(cluster: Cluster, redis: Redis, name: str) -> float:
    """SIGTERM ``name``, then start it again and wait until it is live; the seconds it took to exit."""
    asked = time.monotonic()
    code = await asyncio.to_thread(cluster.kill, name, signal.SIGTERM)
    exited = time.monotonic() - asked
    if name.startswith("api"):
        await asyncio.to_thread(cluster.start_api, cluster.api_ports[name], name)
        return exited
    assert code == 0, f"{name} exited with {code} on SIGTERM:\n{cluster.logs(name)[-3000:]}"
    process = cluster.start_worker(name, worker_concurrency=SLOTS)

    async def live() -> bool:  # presence keys are named "<host>-<pid>-<id>"
        present = [key.decode() async for key in redis.scan_iter(keys.WORKER_PATTERN)]
        return any(f"-{process.pid}-" in key for key in present)

    await wait_until(live, timeout=60, what=f"the new {name} to be live")
    return exited


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_rolling_restart_of_every_process_loses_no_record_no_event_and_no_request(
    cluster: Cluster, acme: TenantFixture, redis: Redis
):
    apis = await start_deployment(cluster)
    viewer = (await create_token(acme.tenant.slug, Role.VIEWER)).token
    jobs = [await start(acme, "test.counted", records=RECORDS, stepMs=10, chunk_size=50)]
    watchers = subscribers(apis, viewer, jobs[0], 8)
    # 10 requests a second in all, within a token's limits.
    askers = [
        Requester(apis, viewer, JOB_QUERY, {"id": gid("Job", jobs[0].id)}, per_second=5, requests=3000, seconds=300)
        for _ in range(2)
    ]
    exits: dict[str, float] = {}

    async with running([*watchers, *askers]):
        await wait_for_records(jobs[0], 200)
        for name in ROLLING_ORDER:
            if (await reload(jobs[-1])).status in TERMINAL:  # work runs through every restart
                jobs.append(await start(acme, "test.counted", records=RECORDS, stepMs=10, chunk_size=50))
            exits[name] = await restart(cluster, redis, name)
        for job in jobs:
            await finished_once_each(job, RECORDS, timeout=180)
        await gap_free(watchers, jobs[0])
        answered = sum(len(asker.latencies_ms) for asker in askers)

    errors = [error for asker in askers for error in asker.errors]
    assert not errors, errors[:5]
    reconnects = sum(len(watcher.connections) - 1 for watcher in watchers)
    print(
        f"\nrolling restart of {len(ROLLING_ORDER)} processes under {len(jobs)} job(s) of {RECORDS} records: "
        f"every record done once; {answered} queries answered ({sum(a.reconnects for a in askers)} sent again "
        f"to the other API process), {len(watchers)} subscribers reconnected {reconnects} times, no event missed; "
        "exit after SIGTERM: " + ", ".join(f"{name} {took:.1f} s" for name, took in exits.items())
    )
    assert all(len(watcher.connections) >= 2 for watcher in watchers)  # each lived through its API's restart


# A migration of a later release that only adds, as docs/operating.md's Upgrades asks: a column
# on each of the busiest tables (one NOT NULL with its db_default) and an index.
NEXT_RELEASE_MIGRATION = '''
from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("jobtower", "{latest}")]
    initial = False
    operations = [
        ops.AddField(model_name="Record", name="next_release_note", field=fields.TextField(null=True)),
        ops.AddField(
            model_name="Job", name="next_release_flag", field=fields.BooleanField(default=False, db_default=False)
        ),
        ops.AddField(model_name="Chunk", name="next_release_count", field=fields.IntField(default=0, db_default=0)),
        ops.AddIndex(model_name="Chunk", index=Index(fields=["next_release_count"])),
    ]
'''


def migrate_to_the_next_release(database_url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """``jobtower migrate`` of a release whose ``domain`` has one migration more."""
    shutil.copytree(REPO / "domain", folder / "domain", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "domain" / "migrations" / "9999_next_release.py").write_text(
        NEXT_RELEASE_MIGRATION.format(latest=max(migration_names()))
    )
    return subprocess.run(
        # Run from the copy: its ``domain`` comes first on the path, the rest from the repository.
        [sys.executable, "-m", "jobtower.cli", "migrate"],
        cwd=folder,
        env=clean_environment() | {"DATABASE_URL": database_url, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )


async def start_over_http(http: httpx.AsyncClient, records: int) -> str:
    started = await http.post("/graphql", json={
        "query": "mutation($input: StartJobInput!) { startJob(input: $input) { ... on JobStarted { job { id } } } }",
        "variables": {"input": {"type": "test.counted", "params": {"records": records, "stepMs": 5}, "chunkSize": 50}},
    })
    return started.json()["data"]["startJob"]["job"]["id"]


async def outcomes(database_url: str, job_id: str) -> tuple[int, int, set[str]]:
    """How many outcomes the job's records have, at how many positions, and which."""
    [(count, positions)] = await fetch_rows(
        database_url, "SELECT count(*), count(DISTINCT position) FROM record WHERE job_id = $1", from_global_id(job_id, "Job")
    )
    statuses = await fetch_rows(database_url, "SELECT DISTINCT status FROM record WHERE job_id = $1", from_global_id(job_id, "Job"))
    return count, positions, {status for (status,) in statuses}


async def finished(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        answer = await http.post("/graphql", json={
            "query": "query($id: ID!) { job(id: $id) { status outcome progress { done total } } }",
            "variables": {"id": job_id},
        })
        job = answer.json()["data"]["job"]
        return job if job["status"] in {status.value for status in TERMINAL} else None

    return await wait_until(ended, timeout=120, what=f"job {job_id} to end")


@pytest.mark.postgres
async def test_jobtower_migrate_while_the_running_release_works_leaves_it_working(
    postgres_url: str, redis: Redis, redis_url: str, tmp_path: Path
):
    records = 2000
    async with fresh_postgres_database(postgres_url) as url:
        jobtower = Jobtower(data_dir=tmp_path, postgres_url=url)
        for command in (("migrate",), ("tenant", "create", "acme")):
            assert jobtower(*command).returncode == 0
        token = jobtower("token", "create", "--tenant", "acme", "--role", "OPERATOR").stdout.strip()
        cluster = Cluster(database_url=url, redis_url=redis_url, log_dir=tmp_path / "logs", settings=dict(FAST_SETTINGS))
        try:
            await start_workers(cluster, "worker-1", "worker-2")
            cluster.start_dispatcher()
            [api] = cluster.start_apis(1)
            headers = {"authorization": f"Bearer {token}", "accept": GRAPHQL_RESPONSE_JSON}
            async with httpx.AsyncClient(base_url=api, headers=headers, timeout=10) as http:
                before = await start_over_http(http, records)
                asker = Requester([api], token, JOB_QUERY, {"id": before}, per_second=10, requests=3000, seconds=300)
                async with running([asker]):

                    async def under_way() -> bool:
                        return (await outcomes(url, before))[0] >= 300

                    await wait_until(under_way, timeout=60, what="the job to be under way")
                    migration = await asyncio.to_thread(migrate_to_the_next_release, url, tmp_path / "next-release")
                    assert migration.returncode == 0, migration.stderr
                    answered_by_then = len(asker.latencies_ms)
                    # The same processes, on the migrated schema: the job goes on, a new one runs.
                    after = await start_over_http(http, records)
                    for job_id in (before, after):
                        job = await finished(http, job_id)
                        assert (job["status"], job["outcome"]) == ("FINISHED", "SUCCEEDED"), job
                        assert await outcomes(url, job_id) == (records, records, {"SUCCEEDED"})
                    answered_after = len(asker.latencies_ms) - answered_by_then
        finally:
            cluster.stop_all()
        columns = await fetch_rows(
            url, "SELECT column_name FROM information_schema.columns WHERE column_name LIKE 'next_release_%'"
        )

    assert not asker.errors, asker.errors[:5]
    assert answered_after > 0
    assert {name for (name,) in columns} == {"next_release_note", "next_release_flag", "next_release_count"}
    print(
        f"\njobtower migrate of the next release while a job ran: {answered_by_then} queries answered before it "
        f"ended, {answered_after} after, none failed; both jobs finished, every record once"
    )
