"""The real console scripts, run in a subprocess the way a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The scripts of the interpreter running the tests (.venv/bin), not whatever is on PATH.
SCRIPTS_DIR = Path(sys.executable).parent
TIMEOUT_SECONDS = 120


def console_script(name: str) -> str:
    found = shutil.which(name, path=str(SCRIPTS_DIR))
    if found is None:
        raise RuntimeError(f"{name} is not installed in {SCRIPTS_DIR}; run `make test`")
    return found


def clean_environment() -> dict[str, str]:
    """The caller's environment without any Jobtower setting, so only what a test sets counts;
    but the test session's id secret (``tests/__init__.py``), so the ids a process gives out are
    the ones the tests compute."""
    return {
        key: value
        for key, value in os.environ.items()
        if key == "JOBTOWER_ID_SECRET" or not key.startswith("JOBTOWER_") and key not in ("DATABASE_URL", "REDIS_URL")
    }


@dataclass(frozen=True)
class Jobtower:
    """``jobtower`` with its state in ``data_dir``, on PostgreSQL when ``postgres_url`` is set."""

    data_dir: Path
    postgres_url: str | None = None
    # Where the command runs; the data dir by default.
    workdir: Path | None = None

    @property
    def database_url(self) -> str:
        return self.postgres_url or f"sqlite://{self.data_dir / 'jobtower.db'}"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = clean_environment() | {"JOBTOWER_DATA_DIR": str(self.data_dir)}
        if self.postgres_url:
            env["DATABASE_URL"] = self.postgres_url
        return subprocess.run(
            [console_script("jobtower"), *args],
            cwd=self.workdir or self.data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
