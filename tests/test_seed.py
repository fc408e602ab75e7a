"""First start of the embedded default: the demo tenant, its schedules, an admin token shown once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

import jobtower.demo  # noqa: F401  (the seeded schedules run demo types)
from domain.access import Role
from domain.clock import utcnow
from domain.models import ApiToken, Schedule, Tenant
from domain.schedules import run_schedule_now
from domain.statuses import JobStatus
from domain.tenants import authenticate
from jobtower.seed import DEMO_SLUG, seed_demo


@pytest.fixture(autouse=True)
async def first_start(database: str) -> AsyncIterator[None]:
    """A database without the demo tenant, as on a first start."""
    await Tenant.filter(slug=DEMO_SLUG).delete()
    yield
    # Gone with its schedules, which must not fire in the dispatchers of later tests.
    await Tenant.filter(slug=DEMO_SLUG).delete()


async def demo_schedules() -> dict[str, Schedule]:
    return {schedule.name: schedule for schedule in await Schedule.filter(tenant__slug=DEMO_SLUG)}


async def test_first_start_seeds_the_demo_tenant_its_schedules_and_an_admin_token():
    assert not await Tenant.exists(slug=DEMO_SLUG)

    token = await seed_demo(retention_days=45)

    tenant = await Tenant.get(slug=DEMO_SLUG)
    admin = await authenticate(token)
    assert (admin.tenant_id, admin.role) == (tenant.id, Role.ADMIN)
    schedules = await demo_schedules()
    assert {name: (s.type, s.cron, s.params, s.enabled) for name, s in schedules.items()} == {
        "Daily KPI report": ("scheduled_report", "0 7 * * *", {"report": "daily-kpis"}, True),
        "Weekly pipeline report": (
            "scheduled_report", "0 8 * * 1", {"report": "weekly-pipeline", "recipients": ["sales@example.com"]}, True
        ),
        "Daily renewal reminders": ("renewal_reminders", "0 9 * * *", {"daysAhead": 14}, True),
        "Weekly onboarding sequence": (
            "campaign_sequence", "0 10 * * 1", {"sequence": "onboarding", "cohort": "last-weeks-signups"}, True
        ),
        "Daily trial follow-ups": (
            "campaign_sequence", "0 11 * * *",
            {"sequence": "trial-follow-up", "cohort": "trials-ending", "contacts": 60}, True,
        ),
        "Monthly ledger close": ("ledger_close", "0 2 1 * *", {}, True),
        "Nightly pruning": ("system.prune", "30 3 * * *", {"olderThanDays": 45}, True),
    }
    now = utcnow()
    report, prune = schedules["Daily KPI report"], schedules["Nightly pruning"]
    assert (report.next_run_at.hour, report.next_run_at.minute) == (7, 0) and report.next_run_at > now
    assert (prune.next_run_at.hour, prune.next_run_at.minute) == (3, 30) and prune.next_run_at > now
    weekly = schedules["Weekly onboarding sequence"].next_run_at
    assert (weekly.weekday(), weekly.hour) == (0, 10) and weekly - now <= timedelta(days=7)
    close = schedules["Monthly ledger close"].next_run_at
    assert (close.day, close.hour) == (1, 2) and close > now


async def test_every_seeded_schedule_runs_now_as_a_job_of_its_type():
    admin = await authenticate(await seed_demo())

    for schedule in (await demo_schedules()).values():
        job = await run_schedule_now(admin, schedule.id)

        assert (job.type, job.name, job.params, job.status) == (
            schedule.type, schedule.name, schedule.params, JobStatus.PENDING
        ), schedule.name


async def test_a_second_start_creates_nothing_new():
    token = await seed_demo(retention_days=45)
    schedules = {name: schedule.id for name, schedule in (await demo_schedules()).items()}
    tokens = await ApiToken.filter(principal__tenant__slug=DEMO_SLUG).count()

    again = await seed_demo(retention_days=60)

    # Shown once: only its hash is kept.
    assert again is None
    assert (await authenticate(token)).role is Role.ADMIN
    assert {name: schedule.id for name, schedule in (await demo_schedules()).items()} == schedules
    assert await ApiToken.filter(principal__tenant__slug=DEMO_SLUG).count() == tokens
    assert await Tenant.filter(slug=DEMO_SLUG).count() == 1


async def test_a_start_after_an_upgrade_adds_the_schedules_the_old_version_did_not_seed():
    await seed_demo()
    kept = {name: schedule.id for name, schedule in (await demo_schedules()).items()}
    # What an older version seeded: the KPI report and the pruning only.
    await Schedule.filter(tenant__slug=DEMO_SLUG).exclude(name__in=["Daily KPI report", "Nightly pruning"]).delete()

    await seed_demo()

    again = {name: schedule.id for name, schedule in (await demo_schedules()).items()}
    assert again.keys() == kept.keys()
    assert [again[name] for name in ("Daily KPI report", "Nightly pruning")] == [
        kept[name] for name in ("Daily KPI report", "Nightly pruning")
    ]
