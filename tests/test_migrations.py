"""The committed migrations match the models, and build the whole schema on an empty database."""

from __future__ import annotations

import importlib
import pkgutil
import shutil
import subprocess
from pathlib import Path

import pytest
from tortoise.migrations import operations as ops
from tortoise.migrations.api import migrate as tortoise_migrate

import domain.migrations
from domain import db
from domain.tenants import create_tenant
from tests.cli import TIMEOUT_SECONDS, Jobtower, clean_environment, console_script
from tests.databases import fetch_rows, fresh_postgres_database, model_tables, table_names
from tests.gql.trees import build_tree

REPO = Path(__file__).resolve().parent.parent
MIGRATIONS = Path("domain") / "migrations"

# A model the migrations cannot know about, to prove the staleness check can fail.
UNMIGRATED_MODEL = '''

class UnmigratedProbe(Model):
    id = fields.BigIntField(primary_key=True)

    class Meta:
        table = "unmigrated_probe"
'''


def copy_of_the_project(destination: Path) -> Path:
    """What `tortoise makemigrations` reads, copied so it may write without touching the repo."""
    shutil.copytree(
        REPO / "domain", destination / "domain", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", destination)
    return destination


def migration_files(project: Path) -> set[str]:
    return {path.name for path in (project / MIGRATIONS).glob("*.py")}


def makemigrations(project: Path) -> str:
    # The Tortoise CLI imports the config module from its working directory first.
    result = subprocess.run(
        [console_script("tortoise"), "makemigrations"],
        cwd=project,
        env=clean_environment() | {"PYTHONDONTWRITEBYTECODE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_migrations_match_the_models(tmp_path: Path) -> None:
    project = copy_of_the_project(tmp_path)
    committed = migration_files(project)

    output = makemigrations(project)

    new = migration_files(project) - committed
    assert "No changes detected" in output and not new, (
        f"{MIGRATIONS} is stale relative to domain/models.py: run "
        f"`.venv/bin/tortoise makemigrations` and commit the new migration.\n{output}"
    )


def test_the_staleness_check_notices_an_unmigrated_model(tmp_path: Path) -> None:
    project = copy_of_the_project(tmp_path)
    committed = migration_files(project)
    with (project / "domain" / "models.py").open("a") as models_file:
        models_file.write(UNMIGRATED_MODEL)

    output = makemigrations(project)

    assert "No changes detected" not in output
    assert migration_files(project) - committed, output


async def test_migrating_an_empty_sqlite_database_creates_every_table(tmp_path: Path) -> None:
    jobtower = Jobtower(data_dir=tmp_path)

    result = jobtower("migrate")

    assert result.returncode == 0, result.stderr
    assert model_tables() <= await table_names(jobtower.database_url)


@pytest.mark.postgres
async def test_migrating_an_empty_postgres_database_creates_every_table(
    postgres_url: str, tmp_path: Path
) -> None:
    async with fresh_postgres_database(postgres_url) as url:
        assert not await table_names(url)

        result = Jobtower(data_dir=tmp_path, postgres_url=url)("migrate")

        assert result.returncode == 0, result.stderr
        assert model_tables() <= await table_names(url)



@pytest.mark.postgres
async def test_two_migrations_started_at_once_both_succeed_and_apply_each_step_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """As when every replica of a deployment runs ``jobtower migrate`` on start."""
    async with fresh_postgres_database(postgres_url) as url:
        env = clean_environment() | {"DATABASE_URL": url}
        both = [
            subprocess.Popen(
                [console_script("jobtower"), "migrate"], cwd=tmp_path, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for _ in range(2)
        ]
        outputs = [process.communicate(timeout=TIMEOUT_SECONDS)[0] for process in both]

        assert [process.returncode for process in both] == [0, 0], "\n".join(outputs)
        applied = await fetch_rows(url, "SELECT name FROM tortoise_migrations")
        assert sorted(name for (name,) in applied) == sorted(migration_names())
        assert model_tables() <= await table_names(url)


PARTITIONED_TABLES = "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid ORDER BY 1"


@pytest.mark.postgres
async def test_the_partitioning_migration_rolls_back_and_forward_keeping_every_record(
    postgres_url: str,
) -> None:
    """``tortoise downgrade`` past it, as an operator backing out of the release, then migrating again."""
    async with fresh_postgres_database(postgres_url) as url:
        async with db.database(url, apply_migrations=True):
            tenant = await create_tenant("acme")
            await build_tree(tenant.id, jobs=2, chunks=2, records=3)
        assert await fetch_rows(url, PARTITIONED_TABLES) == [("job_log",), ("record",)]

        await tortoise_migrate(config=db.tortoise_config(url), target="jobtower.0015_job_trace_context")
        await db.close()

        assert await fetch_rows(url, PARTITIONED_TABLES) == []
        assert await fetch_rows(url, "SELECT count(*) FROM record") == [(12,)]
        keys = await fetch_rows(
            url,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'record'::regclass AND contype IN ('p', 'u') ORDER BY 1",
        )
        assert ("record_pkey", "PRIMARY KEY (id)") in keys
        assert all("partition_id" not in definition for _, definition in keys), keys

        await tortoise_migrate(config=db.tortoise_config(url))
        await db.close()

        assert await fetch_rows(url, PARTITIONED_TABLES) == [("job_log",), ("record",)]
        assert await fetch_rows(url, "SELECT count(*) FROM record") == [(12,)]


def migration_names() -> list[str]:
    return [info.name for info in pkgutil.iter_modules(domain.migrations.__path__)]


# What a migration may not do to the database while the previous release's processes still
# run on it (docs/operating.md, Upgrades): they read and write the columns they know.
TAKES_AWAY = (ops.RemoveField, ops.RenameField, ops.DeleteModel, ops.RenameModel)


def test_migrations_only_add_what_the_running_release_can_ignore() -> None:
    for name in migration_names():
        for operation in importlib.import_module(f"{domain.migrations.__name__}.{name}").Migration.operations:
            kind = type(operation)
            assert not isinstance(operation, TAKES_AWAY), f"{name}: {kind.__name__} breaks the running release"
            # A subclass that leaves the database alone (``AlterFieldState``) changes only what
            # Tortoise knows; the column the running release reads stays as it was.
            assert kind is not ops.AlterField, f"{name}: AlterField changes a column the running release uses"
            if kind is ops.AddField and not operation.field.null:
                assert operation.field.has_db_default(), (
                    f"{name}: the new NOT NULL column {operation.name} needs a db_default, "
                    "else the running release's INSERTs, which do not name it, fail"
                )
