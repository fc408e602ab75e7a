"""jobStatistics and liveOps over HTTP: the figures the domain computes, scoped to the asker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.access import Role
from domain.jobs import StartJobRequest, start_job
from domain.models import Job
from domain.statuses import JobStatus
from tests.gql.support import counting_statements

STATISTICS = """
query ($from: DateTime!, $to: DateTime!, $tenant: ID) {
  jobStatistics(from: $from, to: $to, bucket: HOUR, tenantId: $tenant) {
    buckets { start created started finished failed waitAvg waitMax durationAvg recordsProcessed }
  }
}"""
LIVE_OPS = "{ liveOps { counts { status count } stalled failedLast24h workersOnline queueDepth } }"
LISTED = """{ liveOps {
  stalledJobs { name status stalled }
  failedJobsLast24h { name status stalled }
} }"""
TENANTS = "{ tenants { id slug name } }"


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


async def test_live_ops_lists_the_stalled_and_failed_jobs_to_open_them(tenant_api):
    acme, other = await tenant_api(), await tenant_api()
    operator = await acme.as_(Role.OPERATOR)
    # No worker is online in these tests: a running job is stalled.
    running = await start_job(operator.actor, StartJobRequest(type="test.plain", name="stuck"))
    await Job.filter(id=running.id).update(status=JobStatus.RUNNING, started_at=datetime.now(UTC))
    failed = await start_job(operator.actor, StartJobRequest(type="test.plain", name="broke"))
    await Job.filter(id=failed.id).update(status=JobStatus.FAILED, ended_at=datetime.now(UTC))
    theirs = await start_job((await other.as_(Role.OPERATOR)).actor, StartJobRequest(type="test.plain"))
    await Job.filter(id=theirs.id).update(status=JobStatus.FAILED, ended_at=datetime.now(UTC))

    summary = (await (await acme.as_(Role.VIEWER)).data(LISTED))["liveOps"]

    assert summary["stalledJobs"] == [{"name": "stuck", "status": "RUNNING", "stalled": True}]
    assert summary["failedJobsLast24h"] == [{"name": "broke", "status": "FAILED", "stalled": False}]


async def test_tenants_lists_the_viewers_own_and_every_one_for_the_platform(tenant_api):
    acme, other = await tenant_api(), await tenant_api()

    own = (await (await acme.as_(Role.VIEWER)).data(TENANTS))["tenants"]
    everyone = (await (await acme.as_(Role.PLATFORM)).data(TENANTS))["tenants"]

    assert [tenant["slug"] for tenant in own] == [acme.tenant.slug]
    assert {acme.tenant.slug, other.tenant.slug} <= {tenant["slug"] for tenant in everyone}
    assert [tenant["slug"] for tenant in everyone] == sorted(tenant["slug"] for tenant in everyone)
    statistics = await (await acme.as_(Role.PLATFORM)).data(
        STATISTICS,
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T01:00:00Z", "tenant": everyone[-1]["id"]},
    )
    assert len(statistics["jobStatistics"]["buckets"]) == 1, "a listed tenant's id narrows the statistics"


async def test_a_live_ops_screen_costs_the_statements_of_the_figures_it_shows(tenant_api):
    viewer = await (await tenant_api()).as_(Role.VIEWER)

    async def statements(query: str) -> int:
        with counting_statements() as counter:
            await viewer.data(query)
        return len(counter.statements)

    await viewer.data("{ liveOps { workersOnline } }")  # the token's first use is noted once
    workers_only = await statements("{ liveOps { workersOnline } }")
    assert await statements("{ liveOps { counts { status count } } }") == workers_only + 1
    assert await statements(LIVE_OPS) == workers_only + 4  # counts, stalled, failedLast24h, queueDepth
