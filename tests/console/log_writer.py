"""Log lines written straight into a served Jobtower's database with ``domain.logs.write_logs``,
as a worker's flush writes them, from a process of its own: the browser tests' process holds no
database connection (the suite's asyncio tests own Tortoise's).

    python -m tests.console.log_writer < {"database": URL, "lines": [{"jobId": 1, ...}, ...]}
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from domain import db
from domain.logs import LogLevel, LogLine, write_logs
from tests.cli import clean_environment

REPO = Path(__file__).resolve().parents[2]
BATCH = 1_000


def write_lines(data_dir: Path, lines: Iterable[dict[str, Any]]) -> None:
    """Writes ``lines`` (jobId, level, message, at; optional fields, chunkIndex, recordKey)
    into the database of the ``jobtower serve`` whose data folder is ``data_dir``."""
    payload = {"database": f"sqlite://{(data_dir / 'jobtower.db').resolve()}", "lines": list(lines)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.console.log_writer"],
        input=json.dumps(payload), cwd=REPO, env=clean_environment(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr


async def _write(database_url: str, lines: list[dict[str, Any]]) -> None:
    async with db.database(database_url):
        for start in range(0, len(lines), BATCH):
            await write_logs(
                LogLine(
                    job_id=line["jobId"],
                    level=LogLevel(line["level"]),
                    message=line["message"],
                    fields=line.get("fields", {}),
                    chunk_index=line.get("chunkIndex"),
                    record_key=line.get("recordKey"),
                    at=datetime.fromisoformat(line["at"]),
                )
                for line in lines[start : start + BATCH]
            )


def main() -> None:
    payload = json.load(sys.stdin)
    asyncio.run(_write(payload["database"], payload["lines"]))


if __name__ == "__main__":
    main()
