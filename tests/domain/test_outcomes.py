"""Writing outcomes (``domain.execution.save_results``): every field lands, and never a second outcome."""

from __future__ import annotations

from datetime import timedelta

from domain.clock import utcnow
from domain.execution import RecordResult, save_results
from domain.models import Chunk, Job, Record
from domain.statuses import ChunkStatus, RecordStatus, StepStatus
from tests.domain.scenarios import start

OWNER = "worker-under-test"
LEASE = timedelta(minutes=5)


async def leased_chunk(actor, records: int) -> tuple[Job, Chunk]:
    """A job with one chunk of ``records`` records, none run yet, leased by ``OWNER``."""
    job = await start(actor)
    now = utcnow()
    chunk = await Chunk.create(
        job_id=job.id,
        index=0,
        range_start=0,
        range_end=records,
        cursor=0,
        keys=[f"r{n}" for n in range(records)],
        status=ChunkStatus.RUNNING,
        lease_owner=OWNER,
        lease_expires_at=now + LEASE,
        attempts=1,
        started_at=now,
    )
    return job, chunk


def outcome(position: int, status: RecordStatus = RecordStatus.SUCCEEDED, error: str | None = None) -> RecordResult:
    now = utcnow()
    return RecordResult(
        position=position,
        key=f"r{position}",
        status=status,
        started_at=now,
        ended_at=now + timedelta(milliseconds=3),
        journey=[[0, StepStatus.SUCCEEDED.value, 1, 2], [1, status.value, 5, 7, {"n": 1}, error]],
        error=error,
    )


async def rows_by_position(job: Job) -> dict[int, Record]:
    return {record.position: record for record in await Record.filter(job_id=job.id)}


async def test_fresh_outcomes_are_written_with_every_field_and_the_cursor(acme):
    job, chunk = await leased_chunk(acme.actor(), 3)
    results = [outcome(0), outcome(1, RecordStatus.FAILED, "RuntimeError: boom"), outcome(2, RecordStatus.SKIPPED)]

    assert await save_results(job, chunk.id, OWNER, results, cursor=3)

    rows = await rows_by_position(job)
    assert sorted(rows) == [0, 1, 2]
    for result in results:
        row = rows[result.position]
        assert (row.chunk_id, row.key, row.status, row.error, row.attempts) == (
            chunk.id, result.key, result.status, result.error, 1
        )
        assert (row.started_at, row.ended_at, row.wait_deadline) == (result.started_at, result.ended_at, None)
        assert row.journey == result.journey
    assert (await Chunk.get(id=chunk.id)).cursor == 3


async def test_a_position_that_already_has_an_outcome_keeps_it_and_the_rest_of_the_batch_is_written(acme):
    job, chunk = await leased_chunk(acme.actor(), 3)
    assert await save_results(job, chunk.id, OWNER, [outcome(1, RecordStatus.FAILED, "first run")], cursor=0)

    # A batch that runs position 1 again, as a worker with a stale cursor would.
    assert await save_results(job, chunk.id, OWNER, [outcome(0), outcome(1), outcome(2)], cursor=3)

    rows = await rows_by_position(job)
    assert await Record.filter(job_id=job.id).count() == 3
    assert {position: row.status for position, row in rows.items()} == {
        0: RecordStatus.SUCCEEDED,
        1: RecordStatus.FAILED,
        2: RecordStatus.SUCCEEDED,
    }
    assert rows[1].error == "first run"
    assert (await Chunk.get(id=chunk.id)).cursor == 3


async def test_a_worker_that_lost_its_lease_writes_nothing(acme):
    job, chunk = await leased_chunk(acme.actor(), 2)

    assert not await save_results(job, chunk.id, "another-worker", [outcome(0), outcome(1)], cursor=2)

    assert await Record.filter(job_id=job.id).count() == 0
    assert (await Chunk.get(id=chunk.id)).cursor == 0


async def test_the_chunk_and_its_job_count_exactly_the_outcomes_written_as_they_are_written(acme):
    job, chunk = await leased_chunk(acme.actor(), 4)
    first = await save_results(job, chunk.id, OWNER, [outcome(0), outcome(1, RecordStatus.FAILED, "x")], cursor=2)
    # Position 1 again (a stale cursor): it keeps its first outcome and counts once.
    second = await save_results(
        job, chunk.id, OWNER, [outcome(1), outcome(2, RecordStatus.INTERRUPTED), outcome(3, RecordStatus.SKIPPED)],
        cursor=4,
    )

    assert (first.done, first.failed) == (2, 1)
    assert (second.done, second.succeeded, second.interrupted, second.skipped) == (2, 0, 1, 1)
    for row in (await Chunk.get(id=chunk.id), await Job.get(id=job.id)):
        counters = (row.done, row.succeeded, row.failed, row.skipped, row.interrupted, row.canceled)
        assert counters == (4, 1, 1, 1, 1, 0), "a running chunk shows what it has done, a failure is not an interruption"


async def test_a_worker_that_lost_its_lease_counts_nothing(acme):
    job, chunk = await leased_chunk(acme.actor(), 2)

    assert await save_results(job, chunk.id, "another-worker", [outcome(0)], cursor=1) is None

    assert ((await Chunk.get(id=chunk.id)).done, (await Job.get(id=job.id)).done) == (0, 0)


async def test_step_details_are_stored_as_their_json_reads_back_whatever_they_hold(acme):
    job, chunk = await leased_chunk(acme.actor(), 2)
    detail = {"count": 2**70, "text": "naïve ✓ \"quoted\"", "nested": [1, 2.5, {"none": None, "flag": False}]}
    plain, bool_keyed = outcome(0), outcome(1)
    plain.journey[1][4] = detail
    bool_keyed.journey[1][4] = {True: "yes", 3: "three"}

    assert await save_results(job, chunk.id, OWNER, [plain, bool_keyed], cursor=2)

    rows = await rows_by_position(job)
    assert rows[0].journey[1][4] == detail
    assert rows[1].journey[1][4] == {"true": "yes", "3": "three"}
