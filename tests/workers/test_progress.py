"""Live progress events in Redis: at most one per job per interval, none left behind, and one
log-stream entry per flush."""

from __future__ import annotations

from redis.asyncio import Redis

from domain.logs import LogLevel, LogLine
from domain.statuses import EventKind
from tests.cluster import wait_until
from workers import keys
from workers.events import JobEventMessage, LogsWritten
from workers.progress import ProgressPublisher

TENANT = 1
JOB = 7
INTERVAL = 0.3


async def flush(publisher: ProgressPublisher, job_id: int = JOB) -> None:
    await publisher.progress(job_id=job_id, tenant_id=TENANT, seq=3, status="RUNNING")


async def events(redis: Redis) -> list[JobEventMessage]:
    return [JobEventMessage.decode(fields) for _, fields in await redis.xrange(keys.tenant_events(TENANT))]


async def test_two_workers_flushing_one_job_send_one_event_per_interval_and_leave_none_behind(redis: Redis):
    first, second = ProgressPublisher(redis, INTERVAL), ProgressPublisher(redis, INTERVAL)

    await flush(first)
    await flush(second)
    await flush(second)

    # The event that prompts readers went out once.
    assert [(event.job_id, event.kind) for event in await events(redis)] == [(JOB, EventKind.PROGRESS)]

    # Another job has an interval of its own.
    await flush(second, job_id=JOB + 1)
    assert [event.job_id for event in await events(redis)] == [JOB, JOB + 1]

    # The second worker's flushes inside the interval are prompted once, when it ends.
    async def prompted_again() -> list[JobEventMessage]:
        found = await events(redis)
        return found if len(found) == 3 else []

    late = (await wait_until(prompted_again, timeout=5, what="the prompt left for the end of the interval"))[-1]
    assert (late.job_id, late.kind, late.seq, late.status) == (JOB, EventKind.PROGRESS, 3, "RUNNING")
    assert late.at > (await events(redis))[0].at

    async def interval_over() -> bool:
        return not await redis.exists(keys.progress_throttle(JOB))

    await wait_until(interval_over, timeout=5, what="the job's interval to end")
    assert len(await events(redis)) == 3, "one prompt for any number of flushes inside an interval"


async def test_a_flush_after_the_interval_sends_its_event_at_once(redis: Redis):
    publisher = ProgressPublisher(redis, INTERVAL)
    await flush(publisher)

    async def interval_over() -> bool:
        return not await redis.exists(keys.progress_throttle(JOB))

    await wait_until(interval_over, timeout=5, what="the job's interval to end")
    await flush(publisher)
    assert len(await events(redis)) == 2


async def test_a_log_flush_is_one_entry_per_job_naming_the_levels_it_wrote(redis: Redis):
    lines = [LogLine(JOB, LogLevel.INFO, f"record {n} done") for n in range(50)]
    lines += [LogLine(JOB, LogLevel.ERROR, "record 7 failed"), LogLine(JOB + 1, LogLevel.DEBUG, "another job")]

    await ProgressPublisher(redis).logs(lines)

    flushes = {
        job_id: [LogsWritten.decode(fields) for _, fields in await redis.xrange(keys.job_logs(job_id))]
        for job_id in (JOB, JOB + 1)
    }
    assert flushes == {
        JOB: [LogsWritten(JOB, frozenset({"INFO", "ERROR"}))],
        JOB + 1: [LogsWritten(JOB + 1, frozenset({"DEBUG"}))],
    }
