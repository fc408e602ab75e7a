"""The relay copies every recorded job event to its tenant's stream, whatever order the
transactions that recorded them committed in, and whatever Redis forgot meanwhile."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from domain import db
from domain.jobs import finish_job, mark_running
from domain.models import Job, JobEvent
from tests.conftest import MakeTenant, TenantFixture
from tests.workers.support import start
from workers import keys
from workers.events import JobEventMessage
from workers.relay import relay_events


async def relay_all(redis: Redis) -> None:
    while await relay_events(redis):
        pass


async def published(redis: Redis, tenant_id: int) -> list[tuple[int, int, str]]:
    """(job, seq, status) of every event on the tenant's stream, in stream order."""
    entries = await redis.xrange(keys.tenant_events(tenant_id))
    return [
        (message.job_id, message.seq, message.status)
        for message in (JobEventMessage.decode(fields) for _, fields in entries)
    ]


async def two_running_jobs(acme: TenantFixture) -> tuple[Job, Job]:
    ending, other = await start(acme, "test.plain", records=1), await start(acme, "test.plain", records=1)
    await mark_running(ending.id)
    return ending, other


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_job_end_committed_after_a_later_event_was_relayed_still_reaches_the_stream(
    redis: Redis, acme: TenantFixture, make_tenant: MakeTenant
):
    ending, _ = await two_running_jobs(acme)
    # Another tenant's: one tenant's events commit in the order of their numbers, so only
    # two tenants' events can commit out of id order.
    other = await start(await make_tenant(), "test.plain", records=1)
    await relay_all(redis)
    numbered, commit = asyncio.Event(), asyncio.Event()

    async def finish_in_a_slow_transaction() -> None:
        async with db.transaction():
            await finish_job(ending.id)  # its event has an id now, not yet committed
            numbered.set()
            await commit.wait()

    finishing = asyncio.create_task(finish_in_a_slow_transaction())
    await asyncio.wait_for(numbered.wait(), timeout=30)
    await mark_running(other.id)  # a higher id, committed first
    await relay_all(redis)
    assert (other.id, 2, "RUNNING") in await published(redis, other.tenant_id)
    commit.set()
    await asyncio.wait_for(finishing, timeout=30)
    await relay_all(redis)

    assert (ending.id, 3, "FINISHED") in await published(redis, acme.tenant.id)


async def test_an_event_row_that_appears_below_what_was_relayed_is_relayed_once(redis: Redis, acme: TenantFixture):
    ending, other = await two_running_jobs(acme)
    await relay_all(redis)
    await finish_job(ending.id)
    await mark_running(other.id)
    # The ending's row is not visible yet when the relay passes the later one: it
    # appears afterwards with its lower id, as a transaction that commits late makes it.
    [late] = await JobEvent.filter(job_id=ending.id, seq=3).values()
    await JobEvent.filter(id=late["id"]).delete()
    await relay_all(redis)
    await JobEvent.create(**late)
    assert await JobEvent.exists(id=late["id"], job_id=ending.id, seq=3)
    await relay_all(redis)
    await relay_all(redis)

    events = await published(redis, acme.tenant.id)
    assert events.count((ending.id, 3, "FINISHED")) == 1
    assert events.count((other.id, 2, "RUNNING")) == 1


async def test_events_recorded_while_redis_was_away_are_relayed_when_it_is_back(redis: Redis, acme: TenantFixture):
    ending, _ = await two_running_jobs(acme)
    await relay_all(redis)
    await finish_job(ending.id)
    await redis.flushall()  # Redis restarted empty before the relay's next round

    await relay_all(redis)

    assert (ending.id, 3, "FINISHED") in await published(redis, acme.tenant.id)
