"""Migrating a database that already holds records and log lines keeps every row, in one storage
partition; on PostgreSQL the tables become partitioned and keep their keys."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.databases import fetch_rows
from tests.test_event_numbering_migration import NOW, empty_database, execute, job, migrate_to

BEFORE = "jobtower.0014_statistics_rollup"
RECORD = "INSERT INTO record (id, job_id, chunk_id, position, key, status, attempts, journey) VALUES"
LOG = "INSERT INTO job_log (id, job_id, at, level, message, fields) VALUES"
HISTORY = [
    f"INSERT INTO tenant (id, slug, name, created_at) VALUES (1, 'acme', 'Acme', {NOW})",
    job(11, 1, 1),
    job(12, 1, 1),
    "INSERT INTO chunk (id, job_id, \"index\", status, range_start, range_end, cursor, keys, attempts, done,"
    " succeeded, failed, skipped) VALUES (5, 11, 0, 'COMPLETED', 0, 2, 2, '[\"a\", \"b\"]', 1, 2, 2, 0, 0),"
    " (6, 12, 0, 'COMPLETED', 0, 1, 1, '[\"c\"]', 1, 1, 1, 0, 0)",
    f"{RECORD} (101, 11, 5, 0, 'a', 'SUCCEEDED', 1, '[]'), (102, 11, 5, 1, 'b', 'SUCCEEDED', 1, '[]'),"
    " (103, 12, 6, 0, 'c', 'SUCCEEDED', 1, '[]')",
    f"{LOG} (201, 11, {NOW}, 'INFO', 'started', '{{}}'), (202, 12, {NOW}, 'ERROR', 'c failed', '{{}}')",
]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_rows_written_before_partitioning_are_kept_in_one_partition(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
):
    async with empty_database(backend, tmp_path, request) as jobtower:
        url = jobtower.database_url
        migrate_to(url, BEFORE)
        await execute(url, HISTORY)

        result = jobtower("migrate")

        assert result.returncode == 0, result.stderr
        [(partition,)] = await fetch_rows(url, "SELECT id FROM storage_partition")
        for table, rows in (("job", [11, 12]), ("record", [101, 102, 103]), ("job_log", [201, 202])):
            found = await fetch_rows(url, f"SELECT id, partition_id FROM {table} ORDER BY id")
            assert found == [(row, partition) for row in rows], table
        if backend == "postgres":
            await _partitioned_with_their_keys(url, partition)


async def _partitioned_with_their_keys(url: str, partition: int) -> None:
    partitioned = await fetch_rows(
        url, "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid ORDER BY 1"
    )
    assert partitioned == [("job_log",), ("record",)]
    assert await fetch_rows(url, f"SELECT id FROM record_p{partition} ORDER BY id") == [(101,), (102,), (103,)]
    connection = await asyncpg.connect(url)
    try:
        # A record's position is still taken once per job, and new rows still get ids of their own.
        with pytest.raises(asyncpg.UniqueViolationError):
            await connection.execute(
                "INSERT INTO record (job_id, partition_id, chunk_id, position, key, status, attempts, journey)"
                f" VALUES (11, {partition}, 5, 1, 'b', 'SUCCEEDED', 1, '[]')"
            )
        for table in ("record", "job_log"):
            assert await connection.fetchval(f"SELECT pg_get_serial_sequence('{table}', 'id')") == f"public.{table}_id_seq"
        assert await connection.fetchval(
            "INSERT INTO record (job_id, partition_id, chunk_id, position, key, status, attempts, journey)"
            f" VALUES (11, {partition}, 5, 2, 'd', 'SUCCEEDED', 1, '[]') RETURNING id"
        )
    finally:
        await connection.close()
