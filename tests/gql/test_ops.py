"""jobStatistics and liveOps over HTTP: the figures the domain computes, scoped to the asker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.access import Role
from domain.jobs import StartJobRequest, start_job
from domain.models import Job
from domain.statuses import JobStatus

STATISTICS = """
query ($from: DateTime!, $to: DateTime!, $tenant: ID) {
  jobStatistics(from: $from, to: $to, bucket: HOUR, tenantId: $tenant) {
    buckets { start created started finished failed waitAvg waitMax durationAvg recordsProcessed }
  }
}"""
LIVE_OPS = "{ liveOps { counts { status count } stalled failedLast24h workersOnline queueDepth } }"


async def _finished_job(actor, created: datetime, waited: float, ran: float, done: int) -> Job:
    job = await start_job(actor, StartJobRequest(type="test.plain"))
    started = created + timedelta(seconds=waited)
    await Job.filter(id=job.id).update(
        status=JobStatus.FINISHED,
        created_at=created,
        started_at=started,
        ended_at=started + timedelta(seconds=ran),
        done=done,
    )
    return job


async def test_statistics_bucket_the_tenants_jobs_by_hour(tenant_api):
    acme, other = await tenant_api(), await tenant_api()
    viewer = await acme.as_(Role.VIEWER)
    hour = datetime(2026, 3, 1, 10, tzinfo=UTC)
    await _finished_job((await acme.as_(Role.OPERATOR)).actor, hour + timedelta(minutes=5), 2, 10, 7)
    await _finished_job((await acme.as_(Role.OPERATOR)).actor, hour + timedelta(minutes=20), 4, 30, 3)
    await _finished_job((await other.as_(Role.OPERATOR)).actor, hour + timedelta(minutes=30), 9, 9, 100)

    data = await viewer.data(
        STATISTICS, {"from": hour.isoformat(), "to": (hour + timedelta(hours=2)).isoformat()}
    )
    first, second = data["jobStatistics"]["buckets"]
    assert datetime.fromisoformat(first["start"]) == hour
    assert (first["created"], first["started"], first["finished"], first["failed"]) == (2, 2, 2, 0)
    assert (first["waitAvg"], first["waitMax"], first["durationAvg"]) == (3.0, 4.0, 20.0)
    assert first["recordsProcessed"] == 10
    assert (second["created"], second["waitAvg"]) == (0, None)

    codes = await viewer.error_codes(
        STATISTICS,
        {"from": hour.isoformat(), "to": (hour + timedelta(hours=1)).isoformat(), "tenant": other.id},
    )
    assert codes == ["NOT_FOUND"], "another tenant's statistics read like a missing tenant"
    codes = await viewer.error_codes(
        STATISTICS, {"from": (hour + timedelta(hours=1)).isoformat(), "to": hour.isoformat()}
    )
    assert codes == ["BAD_USER_INPUT"]


async def test_live_ops_counts_only_the_askers_jobs(tenant_api):
    acme, other = await tenant_api(), await tenant_api()
    operator = await acme.as_(Role.OPERATOR)
    await start_job(operator.actor, StartJobRequest(type="test.plain"))
    await start_job(operator.actor, StartJobRequest(type="test.plain"))
    failed = await start_job(operator.actor, StartJobRequest(type="test.plain"))
    await Job.filter(id=failed.id).update(status=JobStatus.FAILED, ended_at=datetime.now(UTC))
    await start_job((await other.as_(Role.OPERATOR)).actor, StartJobRequest(type="test.plain"))

    summary = (await (await acme.as_(Role.VIEWER)).data(LIVE_OPS))["liveOps"]
    counts = {item["status"]: item["count"] for item in summary["counts"]}
    assert set(counts) == {status.value for status in JobStatus}
    assert (counts["PENDING"], counts["FAILED"], counts["RUNNING"]) == (2, 1, 0)
    assert summary["failedLast24h"] == 1
    assert summary["workersOnline"] == 0
    assert summary["stalled"] == 0
