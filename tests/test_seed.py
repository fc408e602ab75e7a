"""First start of the embedded default (SPEC §8): the demo tenant, its schedules, an admin token; once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import jobtower.demo  # noqa: F401  (the seeded schedules run demo types)
from domain.access import Role
from domain.clock import utcnow
from domain.models import ApiToken, Schedule, Tenant
from domain.tenants import authenticate
from jobtower.seed import DEMO_SLUG, seed_demo


@pytest.fixture
async def data_dir(database: str, tmp_path: Path) -> AsyncIterator[Path]:
    """An empty data folder and a database without the demo tenant, as on a first start."""
    await Tenant.filter(slug=DEMO_SLUG).delete()
    yield tmp_path
    # Gone with its schedules, which must not fire in the dispatchers of later tests.
    await Tenant.filter(slug=DEMO_SLUG).delete()


async def demo_schedules() -> dict[str, Schedule]:
    return {schedule.name: schedule for schedule in await Schedule.filter(tenant__slug=DEMO_SLUG)}


async def test_first_start_seeds_the_demo_tenant_its_schedules_and_an_admin_token(data_dir: Path):
    assert not await Tenant.exists(slug=DEMO_SLUG)

    token = await seed_demo(data_dir, retention_days=45)

    tenant = await Tenant.get(slug=DEMO_SLUG)
    admin = await authenticate(token)
    assert (admin.tenant_id, admin.role) == (tenant.id, Role.ADMIN)
    schedules = await demo_schedules()
    report, prune = schedules["Daily KPI report"], schedules["Nightly pruning"]
    assert (report.type, report.cron, report.params, report.enabled) == (
        "scheduled_report", "0 7 * * *", {"report": "daily-kpis"}, True
    )
    assert (prune.type, prune.cron, prune.params, prune.enabled) == (
        "system.prune", "30 3 * * *", {"olderThanDays": 45}, True
    )
    now = utcnow()
    assert (report.next_run_at.hour, report.next_run_at.minute) == (7, 0) and report.next_run_at > now
    assert (prune.next_run_at.hour, prune.next_run_at.minute) == (3, 30) and prune.next_run_at > now


async def test_a_second_start_creates_nothing_new(data_dir: Path):
    token = await seed_demo(data_dir, retention_days=45)
    schedules = {name: schedule.id for name, schedule in (await demo_schedules()).items()}
    tokens = await ApiToken.filter(principal__tenant__slug=DEMO_SLUG).count()

    again = await seed_demo(data_dir, retention_days=60)

    assert again == token
    assert {name: schedule.id for name, schedule in (await demo_schedules()).items()} == schedules
    assert await ApiToken.filter(principal__tenant__slug=DEMO_SLUG).count() == tokens
    assert await Tenant.filter(slug=DEMO_SLUG).count() == 1


async def test_a_token_file_from_another_database_is_replaced(data_dir: Path):
    (data_dir / "admin-token").write_text("jt_from_a_database_that_is_gone\n")

    token = await seed_demo(data_dir)

    assert token != "jt_from_a_database_that_is_gone"
    assert (await authenticate(token)).role is Role.ADMIN
    assert (data_dir / "admin-token").read_text().strip() == token
