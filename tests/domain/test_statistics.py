"""Job statistics (``domain.statistics``): bucket figures, empty buckets, scoping and range limits.

Jobs are written with fixed timestamps in the early 2000s, where no other test
puts anything, so every figure below is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain import statistics
from domain.access import Actor, Role
from domain.clock import utcnow
from domain.errors import InvalidInput, NotFound
from domain.execution import RecordResult, save_results
from domain.jobs import resume_job
from domain.models import Chunk, Job, StatisticsRollup, Tenant
from domain.partitions import shared_partition
from domain.retention import prune_finished_jobs
from domain.statistics import MAX_BUCKETS, Bucket, StatsBucketSize, job_statistics
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from tests.domain.scenarios import MISSING_ID

HOUR, DAY = StatsBucketSize.HOUR, StatsBucketSize.DAY


def at(hour: int, minute: int = 0, second: int = 0, *, day: int = 3, year: int = 2001) -> datetime:
    return datetime(year, 2, day, hour, minute, second, tzinfo=UTC)


async def job_at(
    tenant: Tenant,
    created: datetime,
    started: datetime | None = None,
    ended: datetime | None = None,
    status: JobStatus | None = None,
    *,
    done: int = 0,
    type: str = "test.plain",
    system: bool = False,
    hidden: bool = False,
) -> Job:
    if status is None:
        status = JobStatus.FINISHED if ended else JobStatus.RUNNING if started else JobStatus.PENDING
    return await Job.create(
        tenant_id=tenant.id,
        partition_id=await shared_partition(utcnow()),
        type=type,
        name=type,
        chunk_size=10,
        status=status,
        created_at=created,
        started_at=started,
        ended_at=ended,
        done=done,
        system=system,
        hidden=hidden,
    )


def platform() -> Actor:
    return Actor(tenant_id=0, role=Role.PLATFORM, name="platform operator")


async def test_each_figure_lands_in_the_bucket_of_its_own_moment(acme):
    t = acme.tenant
    # Created 10:00-10:30 and all started in the 10:00 bucket; A-D end in the 11:00 one.
    await job_at(t, at(10), at(10, 0, 10), at(11), done=10)  # A: ends exactly at 11:00
    await job_at(t, at(10, 5), at(10, 5, 20), at(11, 5, 20), done=20)  # B
    await job_at(t, at(10, 10), at(10, 10, 30), at(11, 30, 30), JobStatus.FAILED, done=5)  # C
    await job_at(t, at(10, 20), at(10, 20, 40), at(11, 20, 40), JobStatus.CANCELED, done=7)  # D
    await job_at(t, at(10, 30), at(10, 31, 40))  # E: still running
    # Created before the range: counts where it started, after a 7199 s wait.
    await job_at(t, at(9), at(10, 59, 59))
    # Canceled before it started: an end without a duration.
    await job_at(t, at(11, 15), None, at(11, 50), JobStatus.CANCELED)
    await job_at(t, at(11, 40))  # still pending
    await job_at(t, at(13, 10), at(13, 10, 5), at(13, 20, 5), done=3)
    # At the end of the range: not in it.
    await job_at(t, at(14), at(14), at(14), done=99)

    buckets = await job_statistics(acme.actor(Role.VIEWER), at(10), at(14), HOUR)

    assert buckets == [
        Bucket(
            start=at(10),
            created=5,
            started=6,
            wait_avg=1233.167,  # (10 + 20 + 30 + 40 + 100 + 7199) / 6
            wait_min=10.0,
            wait_max=7199.0,
            wait_p95=5424.25,  # 100 + 0.75 * (7199 - 100)
        ),
        Bucket(
            start=at(11),
            created=2,
            finished=2,
            failed=1,
            duration_avg=3897.5,  # (3590 + 3600 + 4800 + 3600) / 4
            duration_p95=4620.0,  # 3600 + 0.85 * (4800 - 3600)
            records_processed=42,
        ),
        Bucket(start=at(12)),
        Bucket(
            start=at(13),
            created=1,
            started=1,
            finished=1,
            wait_avg=5.0,
            wait_min=5.0,
            wait_max=5.0,
            wait_p95=5.0,
            duration_avg=600.0,
            duration_p95=600.0,
            records_processed=3,
        ),
    ]


async def test_the_95th_percentile_interpolates_like_percentile_cont(acme):
    created = at(10, day=4)
    partition = await shared_partition(utcnow())
    await Job.bulk_create(
        [
            Job(
                tenant_id=acme.tenant.id,
                partition_id=partition,
                type="test.plain",
                name=f"wait {seconds}",
                chunk_size=10,
                status=JobStatus.RUNNING,
                created_at=created,
                started_at=created + timedelta(seconds=seconds),
            )
            # Shuffled, so the order of the rows is not the order of the values.
            for seconds in sorted(range(1, 201), key=lambda s: (s * 7919) % 201)
        ]
    )

    [bucket] = await job_statistics(acme.actor(), at(10, day=4), at(11, day=4), HOUR)

    assert (bucket.started, bucket.wait_min, bucket.wait_max, bucket.wait_avg) == (200, 1, 200, 100.5)
    # Position 0.95 * 199 = 189.05 between the 190th and 191st smallest waits.
    assert bucket.wait_p95 == 190.05


async def test_day_buckets_are_utc_days_and_count_only_moments_in_the_range(acme):
    t = acme.tenant
    await job_at(t, at(11, day=3))  # before `from`
    await job_at(t, at(13, day=3))
    await job_at(t, at(0, day=4))
    await job_at(t, at(23, 59, 59, day=4))
    await job_at(t, at(11, 59, 59, day=5))
    await job_at(t, at(12, day=5))  # at `to`

    buckets = await job_statistics(acme.actor(), at(12, day=3), at(12, day=5), DAY)

    assert [(b.start, b.created) for b in buckets] == [
        (datetime(2001, 2, 3, tzinfo=UTC), 1),
        (datetime(2001, 2, 4, tzinfo=UTC), 2),
        (datetime(2001, 2, 5, tzinfo=UTC), 1),
    ]


async def test_a_range_without_jobs_gives_every_bucket_empty(acme):
    buckets = await job_statistics(acme.actor(), at(0, day=6), at(0, day=7), HOUR)

    assert buckets == [Bucket(start=at(0, day=6) + timedelta(hours=n)) for n in range(24)]


async def test_naive_datetimes_are_taken_as_utc(acme):
    await job_at(acme.tenant, at(10, day=8))

    naive = await job_statistics(
        acme.actor(), datetime(2001, 2, 8, 10), datetime(2001, 2, 8, 11), HOUR
    )

    assert naive == [Bucket(start=at(10, day=8), created=1)]


async def test_the_type_filter_counts_only_jobs_of_that_type(acme):
    t = acme.tenant
    await job_at(t, at(10, day=9), at(10, 1, day=9), at(10, 2, day=9), done=4)
    await job_at(
        t, at(10, day=9), at(10, 0, 30, day=9), at(10, 3, day=9), done=6, type="test.non_stoppable"
    )

    [bucket] = await job_statistics(
        acme.actor(), at(10, day=9), at(11, day=9), HOUR, type="test.non_stoppable"
    )

    assert bucket == Bucket(
        start=at(10, day=9),
        created=1,
        started=1,
        finished=1,
        wait_avg=30.0,
        wait_min=30.0,
        wait_max=30.0,
        wait_p95=30.0,
        duration_avg=150.0,
        duration_p95=150.0,
        records_processed=6,
    )


async def test_hidden_jobs_count_and_system_jobs_only_for_admins(acme):
    t = acme.tenant
    await job_at(t, at(10, day=10), hidden=True)
    await job_at(t, at(10, day=10), type="test.system", system=True)
    window = (at(10, day=10), at(11, day=10), HOUR)

    [seen_by_operator] = await job_statistics(acme.actor(Role.OPERATOR), *window)
    [seen_by_admin] = await job_statistics(acme.actor(Role.ADMIN), *window)

    assert seen_by_operator.created == 1
    assert seen_by_admin.created == 2


async def test_a_tenant_sees_only_its_own_jobs(acme, make_tenant):
    other = await make_tenant()
    await job_at(acme.tenant, at(10, day=11))
    await job_at(other.tenant, at(10, day=11))
    await job_at(other.tenant, at(10, day=11))
    window = (at(10, day=11), at(11, day=11), HOUR)

    [mine] = await job_statistics(acme.actor(), *window)
    [mine_by_id] = await job_statistics(acme.actor(), *window, tenant_id=acme.tenant.id)
    [theirs_for_platform] = await job_statistics(platform(), *window, tenant_id=other.tenant.id)

    assert (mine.created, mine_by_id.created, theirs_for_platform.created) == (1, 1, 2)


async def test_the_platform_sees_every_tenant_at_once(acme, make_tenant):
    other = await make_tenant()
    await job_at(acme.tenant, at(10, year=2002))
    await job_at(other.tenant, at(10, 30, year=2002), at(10, 31, year=2002))

    [bucket] = await job_statistics(platform(), at(10, year=2002), at(11, year=2002), HOUR)

    assert (bucket.created, bucket.started) == (2, 1)


async def test_another_tenants_id_answers_like_a_missing_one(acme, make_tenant):
    other = await make_tenant()
    await job_at(other.tenant, at(10, day=12))
    window = (at(10, day=12), at(11, day=12), HOUR)

    with pytest.raises(NotFound) as theirs:
        await job_statistics(acme.actor(Role.ADMIN), *window, tenant_id=other.tenant.id)
    with pytest.raises(NotFound) as missing:
        await job_statistics(acme.actor(Role.ADMIN), *window, tenant_id=MISSING_ID)
    with pytest.raises(NotFound) as missing_for_platform:
        await job_statistics(platform(), *window, tenant_id=MISSING_ID)

    assert (theirs.value.code, theirs.value.kind) == ("NOT_FOUND", "tenant")
    assert theirs.value.message == f"tenant {other.tenant.id} not found"
    assert (missing.value.kind, missing_for_platform.value.kind) == ("tenant", "tenant")


@pytest.mark.parametrize("end", [at(10), at(9, 59, 59)], ids=["empty", "reversed"])
async def test_the_range_must_end_after_it_starts(acme, end):
    with pytest.raises(InvalidInput) as refused:
        await job_statistics(acme.actor(), at(10), end, HOUR)

    assert refused.value.field == "to"


async def test_at_most_max_buckets_hours_and_a_hint_to_use_days(acme):
    start = at(0, day=1, year=2003)
    exactly = await job_statistics(acme.actor(), start, start + timedelta(hours=MAX_BUCKETS), HOUR)
    with pytest.raises(InvalidInput) as one_too_many:
        await job_statistics(
            acme.actor(), start, start + timedelta(hours=MAX_BUCKETS, seconds=1), HOUR
        )

    assert len(exactly) == MAX_BUCKETS
    assert exactly[-1].start == start + timedelta(hours=MAX_BUCKETS - 1)
    # One hour too many does not fit, the same range in days does: the bucket size is the fix.
    assert one_too_many.value.field == "bucket"
    assert f"{MAX_BUCKETS + 1} hour buckets" in one_too_many.value.message


async def test_ninety_days_fit_in_hour_buckets_even_when_the_ends_are_not_on_the_hour(acme):
    start = at(0, 30, day=1, year=2003)
    buckets = await job_statistics(acme.actor(), start, start + timedelta(days=90), HOUR)

    assert len(buckets) == 90 * 24 + 1


async def test_more_days_than_max_buckets_is_refused_on_the_range(acme):
    start = at(0, day=1, year=2003)

    with pytest.raises(InvalidInput) as refused:
        await job_statistics(acme.actor(), start, start + timedelta(days=MAX_BUCKETS + 1), DAY)

    assert refused.value.field == "to"


# ---------------------------------------------------------------- kept buckets (domain.rollup)
# Moments in 2005, where no other test puts anything.


def in_2005(hour: int, minute: int = 0, *, day: int) -> datetime:
    return at(hour, minute, day=day, year=2005)


async def computed_afresh(actor: Actor, *window) -> list[Bucket]:
    """What the jobs give with nothing kept."""
    await StatisticsRollup.all().delete()
    return await job_statistics(actor, *window)


async def stopped_at_eleven(tenant: Tenant, day: int, done: int = 4) -> Job:
    """Created at 10:00, started at 10:01, stopped at 11:30 with ``done`` records done."""
    return await job_at(
        tenant, in_2005(10, day=day), in_2005(10, 1, day=day), in_2005(11, 30, day=day), JobStatus.STOPPED, done=done
    )


async def test_a_settled_bucket_is_kept_and_read_back_with_the_same_figures(acme):
    job = await stopped_at_eleven(acme.tenant, day=1)
    window = (in_2005(10, day=1), in_2005(12, day=1), HOUR)

    first = await job_statistics(acme.actor(), *window)
    again = await job_statistics(acme.actor(), *window)

    assert await StatisticsRollup.filter(start=in_2005(11, day=1)).exists()
    assert first == again == await computed_afresh(acme.actor(), *window)
    assert (again[1].duration_avg, again[1].records_processed) == (5340.0, job.done)


async def test_a_resumed_job_leaves_the_kept_buckets_it_stopped_in(acme):
    job = await stopped_at_eleven(acme.tenant, day=2)
    hours = (in_2005(10, day=2), in_2005(12, day=2), HOUR)
    days = (in_2005(0, day=2), in_2005(0, day=3), DAY)
    [_, stopped] = await job_statistics(acme.actor(), *hours)
    [stopped_that_day] = await job_statistics(acme.actor(), *days)

    await resume_job(acme.actor(), job.id)
    [_, resumed] = await job_statistics(acme.actor(), *hours)
    [resumed_that_day] = await job_statistics(acme.actor(), *days)

    assert (stopped.duration_avg, stopped.records_processed) == (5340.0, 4)
    assert (stopped_that_day.created, stopped_that_day.records_processed) == (1, 4)
    assert resumed == Bucket(start=in_2005(11, day=2))
    assert (resumed_that_day.created, resumed_that_day.records_processed) == (1, 0)


async def test_records_written_after_a_job_stopped_count_in_its_kept_bucket(acme):
    job = await stopped_at_eleven(acme.tenant, day=3, done=0)
    owner = "worker-in-flight"
    chunk = await Chunk.create(
        job_id=job.id, index=0, range_start=0, range_end=2, cursor=0, keys=["r0", "r1"],
        status=ChunkStatus.STOPPED, lease_owner=owner, attempts=1, started_at=in_2005(10, 1, day=3),
    )
    window = (in_2005(11, day=3), in_2005(12, day=3), HOUR)
    [before] = await job_statistics(acme.actor(), *window)

    now = utcnow()
    written = [RecordResult(n, f"r{n}", RecordStatus.INTERRUPTED, now, now, []) for n in range(2)]
    assert await save_results(job, chunk.id, owner, written, cursor=2)
    [after] = await job_statistics(acme.actor(), *window)

    assert (before.records_processed, after.records_processed) == (0, 2)


async def test_a_job_pruned_by_retention_leaves_every_kept_bucket(acme):
    t = acme.tenant
    job = await job_at(t, in_2005(10, day=4), in_2005(11, day=4), in_2005(12, day=4), done=3)
    await Job.filter(id=job.id).update(root_id=job.id)
    window = (in_2005(10, day=4), in_2005(13, day=4), HOUR)
    before = await job_statistics(acme.actor(), *window)

    assert await prune_finished_jobs(timedelta(days=30), tenant_id=t.id) == 1
    after = await job_statistics(acme.actor(), *window)

    assert [(b.created, b.started, b.finished, b.records_processed) for b in before] == [
        (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 3)
    ]
    assert after == [Bucket(start=bucket.start) for bucket in before]


async def test_a_change_committed_while_a_read_computes_is_not_kept_stale(acme, monkeypatch):
    job = await stopped_at_eleven(acme.tenant, day=5)
    window = (in_2005(10, day=5), in_2005(12, day=5), HOUR)
    compute = statistics._computed

    async def computed_then_resumed(*args):
        figures = await compute(*args)
        await resume_job(acme.actor(), job.id)  # commits before the read keeps what it computed
        return figures

    monkeypatch.setattr(statistics, "_computed", computed_then_resumed)
    [_, during] = await job_statistics(acme.actor(), *window)
    monkeypatch.undo()
    [_, after] = await job_statistics(acme.actor(), *window)

    assert during.records_processed == 4  # as the jobs were when it read them
    assert after == Bucket(start=in_2005(11, day=5))


async def test_the_hour_now_is_computed_from_the_jobs_on_every_read(acme):
    now = utcnow()
    window = (HOUR.floor(now), HOUR.floor(now) + timedelta(hours=1), HOUR)
    await job_at(acme.tenant, now, type="test.plain")
    [first] = await job_statistics(acme.actor(), *window, type="test.plain")

    await job_at(acme.tenant, now, type="test.plain")
    [second] = await job_statistics(acme.actor(), *window, type="test.plain")

    assert (first.created, second.created) == (1, 2)
    assert not await StatisticsRollup.filter(start=window[0]).exists()


async def test_no_bucket_is_kept_for_a_type_no_job_can_have(acme):
    window = (in_2005(10, day=6), in_2005(12, day=6), HOUR)

    buckets = await job_statistics(acme.actor(), *window, type="no such type")

    assert buckets == [Bucket(start=in_2005(10, day=6)), Bucket(start=in_2005(11, day=6))]
    assert not await StatisticsRollup.filter(type="no such type").exists()
