"""Which days' statistics changed after the fact: the generation that tells kept buckets true.

``jobStatistics`` keeps the figures of a bucket once it is settled (``domain.statistics``).
The verbs stamp a job's moments (created, started, ended) with the time they run at, in short
transactions, so a bucket that ended ``SETTLE`` ago receives no new moment. Its figures can
still change, but only through a job whose moment lies in it: a stopped job that resumes or
is canceled leaves the bucket it stopped in, records written after a job ended raise its
``done``, retention deletes a job. Each such change calls ``forget`` (or ``forget_end_of``)
after the change or in its transaction, which bumps the generation of the UTC day of each
moment it changes. A kept bucket records the generation of its day read before its figures
were computed, and is true while the day still has that generation: a change committed
later, from any process, bumps it. Hiding a job changes no figure (hidden jobs count).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain import db
from domain.report_sql import epoch_day

SETTLE = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BUMP = " ON CONFLICT (day) DO UPDATE SET generation = statistics_generation.generation + 1"


def day_of(moment: datetime) -> int:
    """The UTC day of ``moment``, counted from 1970-01-01, as ``epoch_day`` counts it in SQL."""
    return (moment - _EPOCH) // timedelta(days=1)


def settled(bucket_end: datetime, now: datetime) -> bool:
    return bucket_end <= now - SETTLE


async def forget(*moments: datetime | None) -> None:
    """The figures of these moments' days changed (None: a moment the job did not have)."""
    days = sorted({day_of(moment) for moment in moments if moment is not None})
    if days:
        # In order, so that two writers bumping the same days never wait on each other in a cycle.
        values = ", ".join("(?, 1)" for _ in days)
        await db.fetch(f"INSERT INTO statistics_generation (day, generation) VALUES {values}{_BUMP}", days)


async def forget_end_of(job_id: int) -> None:
    """The job's figures at its end changed (its ``done``), if it has ended."""
    await db.fetch(
        f"INSERT INTO statistics_generation (day, generation) SELECT {epoch_day('ended_at')}, 1"
        f" FROM job WHERE id = ? AND ended_at IS NOT NULL{_BUMP}",
        [job_id],
    )


async def generations(first: datetime, last: datetime) -> dict[int, int]:
    """The generation of each day from ``first``'s to ``last``'s that ever changed."""
    rows = await db.fetch(
        "SELECT day, generation FROM statistics_generation WHERE day >= ? AND day <= ?",
        [day_of(first), day_of(last)],
    )
    return {int(row["day"]): int(row["generation"]) for row in rows}
