"""The ``jobtower`` command as operators run it: a real process on real databases."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli import Jobtower
from tests.databases import fetch_rows, fresh_postgres_database

TOKEN_OWNER_SQL = """
    SELECT principal.role, tenant.slug, tenant.jobs_per_month
    FROM api_token
    JOIN principal ON principal.id = api_token.principal_id
    JOIN tenant ON tenant.id = principal.tenant_id
    WHERE api_token.token_hash = $1
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def jobtower(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Jobtower]:
    """The CLI on an empty database: SQLite in its data dir, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield Jobtower(data_dir=tmp_path)
        return
    async with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield Jobtower(data_dir=tmp_path, postgres_url=url)


@pytest.fixture
async def migrated(jobtower: Jobtower) -> Jobtower:
    result = jobtower("migrate")
    assert result.returncode == 0, result.stderr
    return jobtower


def assert_refused(result, message: str) -> None:
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_migrate_is_idempotent(jobtower: Jobtower) -> None:
    for _ in range(2):
        result = jobtower("migrate")
        assert result.returncode == 0, result.stderr
        assert "database is up to date" in result.stderr


def test_sqlite_state_lives_in_the_data_dir(tmp_path: Path) -> None:
    result = Jobtower(data_dir=tmp_path / "state", workdir=tmp_path)("migrate")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "state" / "jobtower.db").is_file()


async def test_token_create_prints_only_a_token_that_is_stored_hashed(migrated: Jobtower) -> None:
    created = migrated("tenant", "create", "acme", "--jobs-per-month", "5")
    assert created.returncode == 0, created.stderr

    issued = migrated("token", "create", "--tenant", "acme", "--role", "OPERATOR")

    assert issued.returncode == 0, issued.stderr
    lines = issued.stdout.splitlines()
    assert len(lines) == 1 and issued.stdout == lines[0] + "\n"
    token = lines[0]
    assert token.startswith("jt_") and token.strip() == token
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    owners = await fetch_rows(migrated.database_url, TOKEN_OWNER_SQL, token_hash)
    assert owners == [("OPERATOR", "acme", 5)]
    # Only the hash is stored: the token itself appears in no row.
    stored = await fetch_rows(migrated.database_url, "SELECT token_hash FROM api_token")
    assert token not in {value for (value,) in stored}


def test_each_token_is_new(migrated: Jobtower) -> None:
    assert migrated("tenant", "create", "acme").returncode == 0

    issue = ("token", "create", "--tenant", "acme", "--role", "VIEWER")
    tokens = {migrated(*issue).stdout for _ in range(2)}

    assert len(tokens) == 2


def test_duplicate_tenant_is_refused(migrated: Jobtower) -> None:
    assert migrated("tenant", "create", "acme").returncode == 0

    assert_refused(migrated("tenant", "create", "acme"), "already exists")


def test_invalid_slug_is_refused(migrated: Jobtower) -> None:
    assert_refused(migrated("tenant", "create", "Not A Slug"), "slug")


def test_token_for_a_missing_tenant_is_refused(migrated: Jobtower) -> None:
    assert_refused(
        migrated("token", "create", "--tenant", "nobody", "--role", "OPERATOR"),
        "tenant nobody not found",
    )


async def test_unknown_role_is_refused_before_anything_is_written(migrated: Jobtower) -> None:
    assert migrated("tenant", "create", "acme").returncode == 0

    result = migrated("token", "create", "--tenant", "acme", "--role", "OVERLORD")

    assert result.returncode == 2  # click's usage error
    assert_refused(result, "Invalid value for '--role'")
    assert await fetch_rows(migrated.database_url, "SELECT id FROM api_token") == []
