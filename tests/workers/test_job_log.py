"""An operator's way to an answer: "errors, then the job's log". Every failed record and every
change of the job's life is a line there, with the chunk and record it concerns."""

from __future__ import annotations

import pytest

from domain.access import Role
from domain.jobs import resume_job, stop_job
from domain.models import Job, JobLog, Record
from domain.statuses import JobOutcome, JobStatus, RecordStatus
from tests.cluster import Cluster
from tests.conftest import TenantFixture
from tests.workers.support import start, wait_for_records, wait_for_status
from workers.runner import FAILURE_LINES_PER_CHUNK

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


async def messages(job: Job) -> list[str]:
    return [line.message for line in await JobLog.filter(job_id=job.id).order_by("id")]


async def test_every_failed_record_and_every_lifecycle_change_writes_a_line(cluster: Cluster, acme: TenantFixture):
    cluster.start_worker(worker_concurrency=2)
    cluster.start_dispatcher()
    operator = acme.actor(Role.OPERATOR, name="Ada")
    job = await start(acme, "noop", records=400, steps=2, stepMs=2, failRate=0.2, chunk_size=50)
    await wait_for_records(job, 60)
    await stop_job(operator, job.id)
    await wait_for_status(job, JobStatus.STOPPED)
    await resume_job(operator, job.id)
    job = await wait_for_status(job, JobStatus.FINISHED, timeout=60)

    failed = {
        record.key: record
        for record in await Record.filter(job_id=job.id, status=RecordStatus.FAILED).prefetch_related("chunk")
    }
    assert job.outcome is JobOutcome.WITH_ERRORS and 0 < len(failed) < FAILURE_LINES_PER_CHUNK
    errors = await JobLog.filter(job_id=job.id, level="ERROR").order_by("id")
    assert sorted(line.record_key for line in errors) == sorted(failed)
    for line in errors:
        record = failed[line.record_key]
        assert line.chunk_index == record.chunk.index
        assert record.key in line.message and record.error in line.message
    said = await messages(job)
    assert said[0].startswith("started after waiting")
    for expected in ("stop requested by Ada", "stopped; resumable from its saved cursors", "resumed by Ada"):
        assert expected in said
    assert said[-1] == (
        f"finished WITH_ERRORS: {job.succeeded} succeeded, {len(failed)} failed, 0 skipped, 0 interrupted"
    )


async def test_a_job_with_many_failures_logs_a_bounded_number_of_lines_and_counts_the_rest(
    cluster: Cluster, acme: TenantFixture
):
    cluster.start_worker(worker_concurrency=2)
    cluster.start_dispatcher()
    records, chunk = 3000, 1500
    job = await start(acme, "noop", records=records, steps=1, failRate=1.0, chunk_size=chunk)
    job = await wait_for_status(job, JobStatus.FINISHED, timeout=60)

    assert job.failed == records
    errors = await JobLog.filter(job_id=job.id, level="ERROR")
    one_by_one = [line for line in errors if "failedRecords" not in line.fields_]
    summed = sum(line.fields_["failedRecords"] for line in errors if "failedRecords" in line.fields_)
    assert len(one_by_one) == 2 * FAILURE_LINES_PER_CHUNK
    assert len(one_by_one) + summed == records, "every failure is in the log, alone or counted"
    assert len(errors) < records // 5
