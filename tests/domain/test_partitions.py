"""Where records and log lines are kept (``domain.partitions``): a big job's partition goes with it
in one drop, small jobs share their week's, and retention leaves nothing behind.

On PostgreSQL the tests look in the catalog for the partitions' tables; on SQLite, which keeps
plain tables, the same rows and partitions come and go.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from domain import db, partitions
from domain.clock import utcnow
from domain.execution import save_results
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Chunk, Job, JobLog, Record, StoragePartition
from domain.partitions import OWN_PARTITION_RECORDS, PARTITIONED, shared_partition, table_of
from domain.retention import prune_finished_jobs
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from tests.domain.scenarios import put_in, start
from tests.domain.test_outcomes import LEASE, OWNER, outcome
from tests.domain.test_retention import KEPT, NONE_LEFT, RETENTION, ended, job_with_history, rows_of, with_history

BIG = {"params": {"records": OWN_PARTITION_RECORDS}}


async def tables_of(partition_id: int) -> dict[str, str | None]:
    """Each partitioned table's partition of ``partition_id``, by the parent it is attached to
    (None: no such table); empty on SQLite."""
    if db.dialect() != "postgres":
        return {}
    found = {}
    for table in PARTITIONED:
        rows = await db.fetch(
            "SELECT parent.relname AS parent FROM pg_class child"
            " LEFT JOIN pg_inherits i ON i.inhrelid = child.oid LEFT JOIN pg_class parent ON parent.oid = i.inhparent"
            " WHERE child.relname = ?",
            [table_of(table, partition_id)],
        )
        found[table] = rows[0]["parent"] if rows else None
    return found


def attached(partition_id: int) -> dict[str, str]:
    return {} if db.dialect() != "postgres" else {table: table for table in PARTITIONED}


def gone() -> dict[str, None]:
    return {} if db.dialect() != "postgres" else {table: None for table in PARTITIONED}


async def rows_in(partition_id: int) -> int:
    return await Record.filter(partition_id=partition_id).count() + await JobLog.filter(partition_id=partition_id).count()


async def test_a_big_job_gets_a_partition_of_its_own_and_small_jobs_share_their_weeks(acme):
    actor = acme.actor()
    big = await start(actor, **BIG)
    other_big = await start(actor, **BIG)
    small = await start(actor)
    smaller = await start(actor, params={"records": 1})

    assert len({big.partition_id, other_big.partition_id, small.partition_id}) == 3
    assert smaller.partition_id == small.partition_id == await shared_partition(utcnow())
    assert (await StoragePartition.get(id=big.partition_id)).week_start is None
    assert await tables_of(big.partition_id) == attached(big.partition_id)


async def test_outcomes_and_log_lines_land_in_their_jobs_partition(acme):
    actor = acme.actor()
    big = await start(actor, **BIG)
    small = await start(actor)
    for job in (big, small):
        now = utcnow()
        chunk = await Chunk.create(
            job_id=job.id, index=0, range_start=0, range_end=2, cursor=0, keys=["r0", "r1"],
            status=ChunkStatus.RUNNING, lease_owner=OWNER, lease_expires_at=now + LEASE, attempts=1, started_at=now,
        )
        assert await save_results(job, chunk.id, OWNER, [outcome(0), outcome(1, RecordStatus.FAILED, "no")], cursor=2)
        await write_logs([LogLine(job.id, LogLevel.ERROR, "r1 failed", chunk_index=0, record_key="r1")])

    for job in (big, small):
        assert await Record.filter(job_id=job.id).values_list("partition_id", flat=True) == [job.partition_id] * 2
        assert await JobLog.filter(job_id=job.id, partition_id=job.partition_id).count() == 1
    if db.dialect() == "postgres":
        [row] = await db.fetch(f"SELECT COUNT(*) AS n FROM {table_of('record', big.partition_id)}", [])
        assert row["n"] == 2


async def test_pruning_a_big_job_drops_its_partition_and_nothing_else(acme):
    actor = acme.actor()
    big = await ended(await job_with_history(actor, **BIG))
    small = await ended(await job_with_history(actor))
    running_big = await put_in(await job_with_history(actor, **BIG), JobStatus.RUNNING)
    assert await tables_of(big.partition_id) == attached(big.partition_id)

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 2

    assert await rows_of(big) == NONE_LEFT
    assert await rows_in(big.partition_id) == 0
    assert not await StoragePartition.exists(id=big.partition_id)
    assert await tables_of(big.partition_id) == gone()
    # The small job's rows were deleted from its week's partition, which stays for its week.
    assert await rows_of(small) == NONE_LEFT
    assert await StoragePartition.exists(id=small.partition_id)
    assert await rows_of(running_big) == KEPT
    assert await tables_of(running_big.partition_id) == attached(running_big.partition_id)


async def test_a_past_weeks_partition_goes_once_its_last_job_is_pruned(acme):
    actor = acme.actor()
    past_week = await shared_partition(utcnow() - timedelta(weeks=6))
    jobs = []
    for _ in range(2):
        job = await start(actor)
        # As if admitted six weeks ago.
        await Job.filter(id=job.id).update(partition_id=past_week)
        await job.refresh_from_db()
        jobs.append(await ended(await with_history(job)))
    first, second = jobs
    await put_in(second, JobStatus.RUNNING)

    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 1

    assert await rows_of(first) == NONE_LEFT
    assert await rows_of(second) == KEPT
    assert await tables_of(past_week) == attached(past_week)

    await ended(second)
    assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 1

    assert await rows_of(second) == NONE_LEFT
    assert not await StoragePartition.exists(id=past_week)
    assert await tables_of(past_week) == gone()


async def test_pruning_makes_this_weeks_and_next_weeks_partitions_ahead_of_use(acme):
    await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id)

    for moment in (utcnow(), utcnow() + partitions.WEEK):
        partition = await StoragePartition.get(week_start=partitions.week_start(moment))
        assert await tables_of(partition.id) == attached(partition.id)


@pytest.mark.postgres
async def test_a_partition_others_hold_locked_is_dropped_on_a_later_run(acme, postgres_url, monkeypatch):
    if db.dialect() != "postgres":
        pytest.skip("SQLite deletes the rows of a partition; it has no tables to lock")
    big = await ended(await job_with_history(acme.actor(), **BIG))
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    reader = await asyncpg.connect(postgres_url)
    try:
        transaction = reader.transaction()
        await transaction.start()
        await reader.fetch(f"SELECT COUNT(*) FROM {table_of('record', big.partition_id)}")

        assert await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id) == 1

        # The job is gone; its rows wait in its partition, which nothing reads any more.
        assert not await Job.exists(id=big.id)
        assert await tables_of(big.partition_id) == attached(big.partition_id)
        await transaction.rollback()
    finally:
        await reader.close()

    await prune_finished_jobs(RETENTION, tenant_id=acme.tenant.id)

    assert await rows_of(big) == NONE_LEFT
    assert await tables_of(big.partition_id) == gone()
    assert not await StoragePartition.exists(id=big.partition_id)
