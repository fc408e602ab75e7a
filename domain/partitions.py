"""Where records and log lines are kept, so that retention drops a big job's in constant time.

Deleting a job's rows costs time in proportion to them and leaves the space they took
behind (dead tuples that vacuum must find, in indexes too). On PostgreSQL, ``record`` and
``job_log`` are therefore partitioned by LIST on ``partition_id``, and each job is given
its partition when it is admitted, for good:

* a **big job** — its job type expects at least ``OWN_PARTITION_RECORDS`` records — gets a
  partition of its own, created in the transaction that admits it. Its retention detaches
  and drops two tables: constant time, nothing left to vacuum.
* **small jobs** share the partition of the week (UTC, from Monday) they are admitted in.
  Retention deletes their few rows, as before; once the week is over and none of its jobs
  is left, the week's partition is dropped whole. Each retention run makes the current
  week's partition and the next one ahead of use; admission makes one itself only if it
  is missing.

A partition per job would make the catalog grow with every small job, and every query
that cannot name its partition plan over all of them (about 0.1 ms per partition here);
shared weekly partitions keep their number near the retention period in weeks plus the
big jobs kept. Queries that read one job's or chunk's rows name the partition (a literal,
so the planner prunes the others); a row looked up by its id alone probes each partition.

The rules that make it correct:

* A job's partition never changes, and all its rows live in it. So ``(job_id, position)``
  is unique across the table although PostgreSQL only enforces it per partition (keys of a
  partitioned table must hold the partition key, here ``(job_id, position, partition_id)``),
  and whoever writes a row must give the job's ``partition_id``.
* No DEFAULT partition: a row whose partition is missing fails instead of landing somewhere
  retention never looks, and attaching a partition needs no scan of a default one.
* No foreign keys to or from the partitioned tables (records had none, log lines' to
  ``job`` is dropped): detaching a partition then locks nothing but its parent table.
* A partition is attached (``SHARE UPDATE EXCLUSIVE``: writers and readers go on), never
  created as ``PARTITION OF`` (``ACCESS EXCLUSIVE``). Detaching takes ``ACCESS EXCLUSIVE``
  on the parent for an instant; it waits at most ``LOCK_TIMEOUT`` for readers and writers in
  flight and else stays for the next retention run.

SQLite keeps plain tables: the same ``StoragePartition`` rows and ``partition_id`` columns,
and dropping a partition deletes its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain import db
from domain.clock import utcnow
from domain.models import Job, JobLog, Record, StoragePartition

# A job expecting at least this many records gets a partition of its own.
OWN_PARTITION_RECORDS = 100_000
WEEK = timedelta(days=7)
# A week's partition stays this long after its week, for admissions that read the clock
# just before the week ended and commit after.
GRACE = timedelta(days=1)
# The longest a retention run waits to detach a partition while others read or write.
LOCK_TIMEOUT = "5s"
# The tables partitioned, each by ``partition_id``.
PARTITIONED = (Record._meta.db_table, JobLog._meta.db_table)


@dataclass(frozen=True)
class Placement:
    """A job's partition, and whether it is the job's own (dropped with it) or a week's."""

    partition_id: int
    own: bool


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week ``moment`` falls in."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def table_of(table: str, partition_id: int) -> str:
    """The PostgreSQL table holding ``table``'s rows of one partition."""
    return f"{table}_p{partition_id}"


async def partition_for_new_job(records_requested: int | None, at: datetime) -> int:
    """The partition of a job admitted at ``at``; call it in the transaction that admits the job,
    so a job's own partition exists exactly when the job does."""
    if records_requested is not None and records_requested >= OWN_PARTITION_RECORDS:
        return await _create(None)
    return await shared_partition(at)


async def shared_partition(at: datetime) -> int:
    """The partition of the small jobs admitted in ``at``'s week, made if it is missing."""
    start = week_start(at)
    found = await StoragePartition.filter(week_start=start).values_list("id", flat=True)
    return found[0] if found else await _create(start)


async def prepare_partitions(now: datetime) -> None:
    """The partitions of this week's small jobs and of next week's, so admissions find them."""
    for moment in (now, now + WEEK):
        await shared_partition(moment)


async def placement_of(job_id: int) -> Placement | None:
    rows = await db.fetch(
        "SELECT p.id, p.week_start IS NULL AS own FROM job j JOIN storage_partition p ON p.id = j.partition_id"
        " WHERE j.id = ?",
        [job_id],
    )
    return Placement(rows[0]["id"], bool(rows[0]["own"])) if rows else None


async def partitions_of_jobs(job_ids: list[int]) -> list[int]:
    """The partitions holding the rows of ``job_ids``, for a query over them to name."""
    if not job_ids:
        return []
    return sorted(set(await Job.filter(id__in=job_ids).values_list("partition_id", flat=True)))


async def partitions_of_parents(parent_column: str, parent_ids: list[int]) -> list[int]:
    """The partitions holding the rows of the jobs (``job_id``) or chunks (``chunk_id``) named."""
    if parent_column == "job_id":
        return await partitions_of_jobs(parent_ids)
    if parent_column != "chunk_id":
        raise ValueError(f"rows are not kept by {parent_column}")
    if not parent_ids:
        return []
    rows = await db.fetch(
        "SELECT DISTINCT j.partition_id FROM chunk c JOIN job j ON j.id = c.job_id"
        f" WHERE c.id IN ({', '.join('?' for _ in parent_ids)})",
        list(parent_ids),
    )
    return sorted(row["partition_id"] for row in rows)


def in_partitions(partitions: list[int], column: str = "partition_id") -> tuple[str, list[int]]:
    """SQL that keeps the rows of ``partitions`` (none for an empty list), and its parameters:
    named as literals, so PostgreSQL plans over those partitions only."""
    if not partitions:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' for _ in partitions)})", list(partitions)


async def drop_unused_partitions(now: datetime, batch: int) -> int:
    """Drop the partitions no job is kept in any more: a job's own once the job is gone, a
    week's once the week is over and every job of it is gone. The number dropped."""
    closed = week_start(now - WEEK - GRACE)
    rows = await db.fetch(
        "SELECT p.id FROM storage_partition p WHERE (p.week_start IS NULL OR p.week_start < ?)"
        " AND NOT EXISTS (SELECT 1 FROM job j WHERE j.partition_id = p.id) ORDER BY p.id",
        [closed],
    )
    dropped = 0
    for row in rows:
        dropped += await _drop(row["id"], batch)
    return dropped


async def _create(start: datetime | None) -> int:
    """A new partition (for ``start``'s week, or a job's own for None) with its tables.

    Two admissions making the same week's at once: the second waits on the unique week,
    finds it taken, and reads the first one's.
    """
    rows = await db.fetch(
        "INSERT INTO storage_partition (week_start, created_at) VALUES (?, ?)"
        " ON CONFLICT (week_start) DO NOTHING RETURNING id",
        [start, utcnow()],
    )
    if not rows:
        return (await StoragePartition.get(week_start=start)).id
    partition_id = rows[0]["id"]
    if db.dialect() == "postgres":
        client = StoragePartition._meta.db
        for table in PARTITIONED:
            await client.execute_script(
                f"CREATE TABLE {table_of(table, partition_id)} (LIKE {table} INCLUDING DEFAULTS);"
                f" ALTER TABLE {table} ATTACH PARTITION {table_of(table, partition_id)} FOR VALUES IN ({partition_id})"
            )
    return partition_id


async def _drop(partition_id: int, batch: int) -> int:
    """1 once the partition is gone; 0 if a job came back to it or its tables stayed locked."""
    if db.dialect() != "postgres":
        for model in (Record, JobLog):
            rows = model.filter(partition_id=partition_id)
            while ids := await rows.limit(batch).values_list("id", flat=True):
                await model.filter(partition_id=partition_id, id__in=ids).delete()
        return await StoragePartition.filter(id=partition_id).delete()
    try:
        async with db.transaction() as connection:
            await connection.execute_script(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            for table in PARTITIONED:
                await connection.execute_script(f"ALTER TABLE {table} DETACH PARTITION {table_of(table, partition_id)}")
            await connection.execute_script(
                f"DROP TABLE {', '.join(table_of(table, partition_id) for table in PARTITIONED)}"
            )
            if await Job.filter(partition_id=partition_id).exists():
                raise _StillUsed
            await StoragePartition.filter(id=partition_id).delete()
    except _StillUsed:
        return 0
    except Exception as error:
        if db.sqlstate(error) == _LOCK_NOT_AVAILABLE:
            return 0
        raise
    return 1


class _StillUsed(Exception):
    pass


# PostgreSQL's lock_timeout ran out.
_LOCK_NOT_AVAILABLE = "55P03"
