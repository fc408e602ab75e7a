"""Migrating a database that already holds job events numbers them per tenant, in id order, and
starts each tenant's counter at its last number, where the next event's numbering goes on."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import asyncpg
import pytest

from tests.cli import TIMEOUT_SECONDS, Jobtower, clean_environment
from tests.databases import fetch_rows, fresh_postgres_database

REPO = Path(__file__).resolve().parent.parent
BEFORE = "jobtower.0006_chunk_claim_index"
MIGRATE_TO = """
import asyncio, sys
from tortoise import Tortoise
from tortoise.migrations.api import migrate
from domain.db import tortoise_config

async def main():
    await migrate(config=tortoise_config(sys.argv[1]), target=sys.argv[2])
    await Tortoise.close_connections()

asyncio.run(main())
"""
NOW = "'2026-11-01 10:00:00+00:00'"
JOB_COLUMNS = (
    "tenant_id, type, name, status, params, chunk_size, system, stoppable, restartable, low_priority, hidden,"
    " retry_failed, step_names, enumerated, seq, created_at, done, succeeded, failed, skipped, error_logs"
)


def job(job_id: int, tenant_id: int, seq: int) -> str:
    return (
        f"INSERT INTO job (id, {JOB_COLUMNS}) VALUES ({job_id}, {tenant_id}, 'test.plain', 'j{job_id}', 'RUNNING',"
        f" '{{}}', 1, false, true, true, false, false, false, '[]', true, {seq}, {NOW}, 0, 0, 0, 0, 0)"
    )


def event(event_id: int, job_id: int, seq: int) -> str:
    return (
        "INSERT INTO job_event (id, job_id, seq, kind, to_status, actor, actor_kind, at, data)"
        f" VALUES ({event_id}, {job_id}, {seq}, 'CREATED', 'PENDING', 'ada', 'USER', {NOW}, '{{}}')"
    )


# Two tenants' events, interleaved in id order.
HISTORY = [
    f"INSERT INTO tenant (id, slug, name, created_at) VALUES (1, 'acme', 'Acme', {NOW}), (2, 'globex', 'Globex', {NOW})",
    job(11, 1, 2),
    job(21, 2, 1),
    job(12, 1, 1),
    event(101, 11, 1),
    event(102, 21, 1),
    event(103, 12, 1),
    event(104, 11, 2),
]


def migrate_to(database_url: str, target: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", MIGRATE_TO, database_url, target],
        cwd=REPO,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stderr


async def execute(database_url: str, statements: list[str]) -> None:
    if database_url.startswith("sqlite://"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite://"))) as connection:
            for statement in statements:
                connection.execute(statement)
            connection.commit()
        return
    connection = await asyncpg.connect(database_url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def empty_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Jobtower]:
    if backend == "sqlite":
        yield Jobtower(data_dir=tmp_path)
        return
    async with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield Jobtower(data_dir=tmp_path, postgres_url=url)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_events_recorded_before_the_numbering_are_numbered_per_tenant(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
):
    async with empty_database(backend, tmp_path, request) as jobtower:
        url = jobtower.database_url
        migrate_to(url, BEFORE)
        await execute(url, HISTORY)

        result = jobtower("migrate")

        assert result.returncode == 0, result.stderr
        numbers = await fetch_rows(url, "SELECT id, tenant_id, tenant_seq FROM job_event ORDER BY id")
        assert [tuple(row) for row in numbers] == [(101, 1, 1), (102, 2, 1), (103, 1, 2), (104, 1, 3)]
        counters = await fetch_rows(url, "SELECT id, event_seq FROM tenant ORDER BY id")
        assert [tuple(row) for row in counters] == [(1, 3), (2, 1)]
