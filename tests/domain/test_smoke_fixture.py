from domain.jobs import StartJobRequest, start_job
from domain.statuses import JobStatus


async def test_start_job_lands_pending(acme, database):
    job = await start_job(acme.actor(), StartJobRequest(type="test.plain"))
    assert job.status is JobStatus.PENDING
