"""Fan-out inside one API process, on a real Redis: one reader for every subscriber, a slow
subscriber that loses entries instead of holding the others up and then catches up gap-free,
and one execution shared only by subscribers whose answers cannot differ."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from domain.access import Role
from domain.jobs import StartJobRequest, mark_running, set_job_low_priority, start_job
from domain.logs import LogLevel, LogLine, at_least, write_logs
from domain.models import Job, JobEvent
from domain.statuses import EventKind
from gql.context import Context
from gql.ids import to_global_id
from gql.jobs.feeds import job_updates
from gql.logs.subscriptions import log_lines
from gql.schema import schema
from tests.cluster import wait_until
from tests.conftest import TenantFixture
from tests.gql.support import counting_statements
from tests.gql.live import live_redis_url, redis, relay_all, relay_nothing_so_far  # noqa: F401  (fixtures)
from tests.workers.support import start
from workers.events import JobEventMessage
from workers.progress import ProgressPublisher
from workers.redis_server import EmbeddedRedis
from workers.streams import StreamHub, StreamKind, close_hub


def gid(job: Job) -> str:
    return str(to_global_id("Job", job.id))


RAW = StreamKind(decode=dict)


def stream(n: int) -> str:
    return f"tests:hub:{n}"


async def xread_connections(redis: Redis) -> int:
    clients = await redis.client_list()
    return sum(1 for client in clients if client.get("cmd") in ("xread", "XREAD"))


async def test_one_blocking_read_serves_every_subscriber_of_the_process(redis: Redis):
    readers_before = await xread_connections(redis)
    hub = StreamHub(redis)
    try:
        mailboxes = [await hub.subscribe({stream(n % 50): RAW}) for n in range(500)]
        await redis.xadd(stream(7), {"n": "1"})
        received = await asyncio.wait_for(
            asyncio.gather(*(box.take() for box in mailboxes[7::50])), timeout=30
        )
        assert [[entry.message for entry in delivery.entries] for delivery in received] == [
            [{b"n": b"1"}]
        ] * 10
        assert await xread_connections(redis) == readers_before + 1
        for box in mailboxes:
            box.close()
        assert hub.streams_read == 0
    finally:
        await hub.close()


async def test_a_subscriber_that_does_not_read_loses_its_entries_and_nobody_waits_for_it(redis: Redis):
    hub = StreamHub(redis, capacity=5)
    try:
        slow = await hub.subscribe({stream(1): RAW})
        fast = await hub.subscribe({stream(1): RAW})
        seen: list[bytes] = []
        for n in range(20):
            await redis.xadd(stream(1), {"n": str(n)})
            delivery = await asyncio.wait_for(fast.take(), timeout=30)
            seen.extend(entry.message[b"n"] for entry in delivery.entries)
        assert seen == [str(n).encode() for n in range(20)]

        missed = await slow.take()
        assert missed.entries == [] and missed.lost_since is not None
        # Read again, it gets what comes next.
        await redis.xadd(stream(1), {"n": "20"})
        after = await asyncio.wait_for(slow.take(), timeout=30)
        assert [entry.message for entry in after.entries] == [{b"n": b"20"}] and after.lost_since is None
    finally:
        await hub.close()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_job_subscriber_that_overflowed_catches_up_from_the_database_gap_free(
    redis: Redis, acme: TenantFixture
):
    admin = acme.actor(Role.ADMIN)
    job = await start(acme, "test.plain", records=3)
    await mark_running(job.id)
    await relay_nothing_so_far()
    hub = StreamHub(redis, capacity=3)
    updates = job_updates(hub, job, after_seq=2)
    try:
        first = asyncio.ensure_future(updates.__anext__())
        # Until the subscriber reads again, whatever does not fit in its mailbox is dropped.
        await wait_until(lambda: _registered(hub), timeout=30, what="the subscription")
        for n in range(12):
            await set_job_low_priority(admin, job.id, n % 2 == 0)
        await relay_all(redis)
        delivered = list(await asyncio.wait_for(first, timeout=30))
        while delivered[-1].seq < 14:
            delivered.extend(await asyncio.wait_for(updates.__anext__(), timeout=30))
    finally:
        await updates.aclose()
        await hub.close()

    recorded = await JobEvent.filter(job_id=job.id, seq__gt=2).order_by("seq").values_list("seq", "kind")
    assert [(item.seq, item.kind.value) for item in delivered] == [(seq, kind) for seq, kind in recorded]
    assert [item.seq for item in delivered] == list(range(3, 15))
    assert (await Job.get(id=job.id)).seq == 14


async def _registered(hub: StreamHub) -> bool:
    return hub.streams_read > 0


def test_event_messages_from_a_newer_writer_still_decode():
    message = JobEventMessage(
        job_id=1, tenant_id=2, seq=3, kind=EventKind.PROGRESS, status="RUNNING", at="2026-01-01T00:00:00"
    )
    fields = message.encode()
    fields["event"] = fields["event"][:-1] + ',"publishedBy":"a later version"}'
    assert JobEventMessage.decode(fields) == message


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_subscribers_share_an_execution_only_when_their_answers_cannot_differ(
    redis: Redis, acme: TenantFixture
):
    parent = await start(acme, "test.plain", records=3)
    await start_job(acme.actor(Role.ADMIN), StartJobRequest(type="test.system", parent_id=parent.id))
    await mark_running(parent.id)
    children = "subscription($id: ID!) { jobUpdated(id: $id) { kind job { children { totalCount } } } }"
    name = "subscription($id: ID!) { jobUpdated(id: $id) { kind job { name } } }"
    watchers = {
        "admin": (Role.ADMIN, children),
        "viewer": (Role.VIEWER, children),
        "another viewer": (Role.VIEWER, children),
        "viewer asking for the name": (Role.VIEWER, name),
    }
    streams = {}
    for who, (role, document) in watchers.items():
        context = Context(redis=redis, actor=acme.actor(role))
        streams[who] = await schema.subscribe(document, variable_values={"id": gid(parent)}, context_value=context)
    first = {who: asyncio.ensure_future(stream.__anext__()) for who, stream in streams.items()}
    try:
        # Progress until every subscription is listening and got the same live event.
        publisher = ProgressPublisher(redis, min_interval=0)
        for attempt in range(200):
            await publisher.progress(job_id=parent.id, tenant_id=parent.tenant_id, seq=2, status="RUNNING")
            await asyncio.wait(first.values(), timeout=0.2)
            if all(task.done() for task in first.values()):
                break
        answers = {who: task.result() for who, task in first.items()}
    finally:
        for stream in streams.values():
            await stream.aclose()
        await close_hub(redis)

    assert all(not answer.errors for answer in answers.values()), answers
    data = {who: answer.data["jobUpdated"] for who, answer in answers.items()}
    assert data["admin"] == {"kind": "PROGRESS", "job": {"children": {"totalCount": 1}}}
    assert data["viewer"] == data["another viewer"] == {"kind": "PROGRESS", "job": {"children": {"totalCount": 0}}}
    assert data["viewer asking for the name"] == {"kind": "PROGRESS", "job": {"name": parent.name}}


def _job_entry(fields: dict) -> tuple[str, str, int]:
    return fields[b"job"].decode(), fields[b"kind"].decode(), int(fields[b"n"])


COALESCED = StreamKind(decode=_job_entry, coalesce=lambda entry: (entry[0], entry[1] == "progress"))


async def _delivered_until(box, last: tuple[str, str, int]) -> list[tuple[str, str, int]]:
    seen: list[tuple[str, str, int]] = []
    while last not in seen:
        delivery = await asyncio.wait_for(box.take(), timeout=30)
        seen.extend(entry.message for entry in delivery.entries)
    return seen


async def test_a_burst_of_progress_reaches_subscribers_as_its_first_and_newest_entries(redis: Redis):
    hub = StreamHub(redis, coalesce_seconds=2)
    try:
        box = await hub.subscribe({stream(2): COALESCED})
        for n in range(10):
            await redis.xadd(stream(2), {"job": "a", "kind": "progress", "n": n})
        assert await _delivered_until(box, ("a", "progress", 9)) == [("a", "progress", 0), ("a", "progress", 9)]
    finally:
        await hub.close()


async def test_a_status_change_supersedes_the_progress_waiting_before_it(redis: Redis):
    hub = StreamHub(redis, coalesce_seconds=1.0)
    try:
        box = await hub.subscribe({stream(3): COALESCED})
        for kind, n in (("progress", 0), ("progress", 1), ("status", 2)):
            await redis.xadd(stream(3), {"job": "a", "kind": kind, "n": n})
        assert await _delivered_until(box, ("a", "status", 2)) == [("a", "progress", 0), ("a", "status", 2)]
        await asyncio.sleep(1.5)  # past the turn progress 1 would have had: it must not come
        await redis.xadd(stream(3), {"job": "b", "kind": "status", "n": 3})
        assert await _delivered_until(box, ("b", "status", 3)) == [("b", "status", 3)]
    finally:
        await hub.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_log_subscriber_reads_once_per_flush_with_lines_it_shows_and_never_for_progress(
    redis: Redis, acme: TenantFixture
):
    job = await start(acme, "test.plain", records=3)
    await mark_running(job.id)
    publisher = ProgressPublisher(redis, min_interval=0)

    async def flush(level: LogLevel, count: int) -> None:
        """What a worker does at a flush: write the lines, announce them, publish progress."""
        lines = [LogLine(job.id, level, f"{level.value.lower()} {n}") for n in range(count)]
        await write_logs(lines)
        await publisher.logs(lines)
        await publisher.progress(job_id=job.id, tenant_id=job.tenant_id, seq=2, status="RUNNING")

    hub = StreamHub(redis)
    with counting_statements() as sql:
        def log_reads() -> int:
            return sum(1 for statement in sql.statements if statement.startswith("SELECT") and '"job_log"' in statement)

        warnings = log_lines(hub, job, at_least(LogLevel.WARNING))
        first = asyncio.ensure_future(warnings.__anext__())
        try:
            # Subscribed once it has read where its job's log ends: it reads again only when woken.
            await wait_until(lambda: _true(log_reads() == 1), timeout=30, what="the subscription's first read")
            await flush(LogLevel.INFO, 20)
            await flush(LogLevel.DEBUG, 20)
            await flush(LogLevel.WARNING, 5)
            delivered = await asyncio.wait_for(first, timeout=30)
        finally:
            await warnings.aclose()
            await hub.close()
        reads = log_reads()

    assert [line.message for line in delivered] == [f"warning {n}" for n in range(5)]
    assert reads == 2, sql.statements


async def _true(value: bool) -> bool:
    return value


async def test_the_hub_says_when_redis_cannot_be_read_and_when_it_can_again(tmp_path):
    own_redis = EmbeddedRedis(tmp_path / "redis")
    client = Redis.from_url(own_redis.start())
    hub = StreamHub(client)
    changes = hub.readable_changes()
    try:
        assert await asyncio.wait_for(changes.__anext__(), timeout=30) is True
        own_redis.stop()
        assert await asyncio.wait_for(changes.__anext__(), timeout=30) is False
        own_redis.start()
        assert await asyncio.wait_for(changes.__anext__(), timeout=30) is True
    finally:
        await changes.aclose()
        await hub.close()
        await client.aclose()
        own_redis.stop()
