"""The committed migrations match the models, and build the whole schema on an empty database."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli import TIMEOUT_SECONDS, Jobtower, clean_environment, console_script
from tests.databases import fresh_postgres_database, model_tables, table_names

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

