"""A wait with a deadline: answered records continue with the answer, the rest when time runs out."""

from __future__ import annotations

import pytest

from domain.jobs import complete_wait
from domain.models import Record
from domain.statuses import JobOutcome, JobStatus, RecordStatus
from tests.cluster import Cluster
from tests.workers.support import start, wait_for_status

RECORDS = 6


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_unanswered_waits_time_out_and_answered_ones_continue(cluster: Cluster, acme):
    cluster.start_worker()
    cluster.start_dispatcher()
    job = await start(acme, "test.approval_deadline", records=RECORDS, waitSeconds=3)
    await wait_for_status(job, JobStatus.WAITING, timeout=30)
    waiting = await Record.filter(job_id=job.id).order_by("position")
    assert [record.status for record in waiting] == [RecordStatus.WAITING] * RECORDS
    assert all(record.wait_deadline is not None for record in waiting)

    answered = waiting[:2]
    for record in answered:
        await complete_wait(acme.actor(), record.id, {"by": "ops@acme"})

    job = await wait_for_status(job, JobStatus.FINISHED, timeout=30)
    assert job.outcome is JobOutcome.SUCCEEDED
    records = {record.id: record for record in await Record.filter(job_id=job.id)}
    for record in answered:
        done = records[record.id]
        assert done.status is RecordStatus.SUCCEEDED
        approve = done.journey[0]
        assert approve[1] == "SUCCEEDED" and approve[4] == {"approvedBy": "ops@acme"}
    timed_out = [records[record.id] for record in waiting[2:]]
    assert {record.status for record in timed_out} == {RecordStatus.SKIPPED}
    assert all(record.journey[-1][5] == "nobody approved in time" for record in timed_out)
