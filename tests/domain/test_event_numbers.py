"""Each tenant numbers its job events (``tenant_seq``): no two alike, none skipped, and in the
order they commit, however many verbs race, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from domain import db
from domain.access import Role
from domain.jobs import hide_job, mark_running, set_job_low_priority, stop_job
from domain.models import JobEvent, Tenant
from tests.cluster import wait_until
from tests.conftest import MakeTenant, TenantFixture
from tests.domain.scenarios import start


async def numbered(tenant: TenantFixture) -> list[tuple[int, int]]:
    """(tenant_seq, id) of the tenant's events, by number."""
    return await JobEvent.filter(tenant_id=tenant.tenant.id).order_by("tenant_seq").values_list("tenant_seq", "id")


async def test_racing_events_of_a_tenant_get_every_number_once_in_the_order_they_committed(make_tenant: MakeTenant):
    acme, globex = await make_tenant(), await make_tenant()
    admin = acme.actor(Role.ADMIN)
    jobs = [await start(admin) for _ in range(6)]
    theirs = await start(globex.actor(Role.ADMIN))

    await asyncio.gather(
        *(verb for job in jobs for verb in (
            mark_running(job.id), set_job_low_priority(admin, job.id, True), hide_job(admin, job.id),
        )),
        mark_running(theirs.id),
        return_exceptions=True,
    )
    await asyncio.gather(*(stop_job(admin, job.id) for job in jobs))

    events = await numbered(acme)
    last = (await Tenant.get(id=acme.tenant.id)).event_seq
    assert [seq for seq, _ in events] == list(range(1, last + 1)) and last == 6 * 5
    # Ids are taken after the number, in the same transaction: the two orders agree.
    assert [event_id for _, event_id in events] == sorted(event_id for _, event_id in events)
    assert [seq for seq, _ in await numbered(globex)] == [1, 2]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_tenants_next_event_waits_until_the_one_numbered_before_it_commits(acme: TenantFixture):
    admin = acme.actor(Role.ADMIN)
    first, second = await start(admin), await start(admin)
    numbered_first, commit = asyncio.Event(), asyncio.Event()

    async def slow_transaction() -> None:
        async with db.transaction():
            await set_job_low_priority(admin, first.id, True)  # numbered 3, not committed
            numbered_first.set()
            await commit.wait()

    slow = asyncio.create_task(slow_transaction())
    await asyncio.wait_for(numbered_first.wait(), timeout=30)
    racer = asyncio.create_task(set_job_low_priority(admin, second.id, True))
    # The racer waits on the tenant's counter: nobody can see a 4 before the 3 is there.
    await wait_until(_waiting_on_a_lock, timeout=30, what="the second event to wait for the first")
    assert not racer.done() and not await JobEvent.exists(tenant_id=acme.tenant.id, tenant_seq=4)
    commit.set()
    await asyncio.wait_for(asyncio.gather(slow, racer), timeout=30)

    rows = await JobEvent.filter(tenant_id=acme.tenant.id, tenant_seq__gt=2).order_by("tenant_seq")
    assert [(event.tenant_seq, event.job_id) for event in rows] == [(3, first.id), (4, second.id)]
    assert rows[0].at <= rows[1].at


async def _waiting_on_a_lock() -> bool:
    rows = await db.fetch(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE tenant%'", []
    )
    return rows[0]["n"] > 0
