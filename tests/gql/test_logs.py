"""A job's log over HTTP and WebSocket: read newest first or oldest first from any line, and
each line's record (the journey a reader opens from it), found without a query per line."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from domain.access import Role
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Job, JobLog, Record
from domain.statuses import ChunkStatus, RecordStatus
from tests.conftest import TenantFixture
from tests.domain.scenarios import add_chunk, start
from tests.gql.live import Api as LiveApi, api, live_redis_url, redis, token  # noqa: F401  (fixtures)
from tests.gql.support import TenantApi, counting_statements, gid
from tests.gql.ws import graphql_ws
from workers.progress import ProgressPublisher

LOGS = """
query Logs($id: ID!, $first: Int, $after: String, $order: Direction, $level: LogLevel) {
  job(id: $id) { logs(first: $first, after: $after, order: $order, level: $level) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { message } }
  } }
}
"""
LOG_RECORDS = """
query LogRecords($id: ID!, $first: Int) {
  job(id: $id) { logs(first: $first) { edges { node {
    message chunkIndex recordKey record { id key status job { id } }
  } } } }
}
"""


async def page(api, job: Job, **arguments: Any) -> tuple[list[str], bool, str | None]:
    logs = (await api.data(LOGS, {"id": gid("Job", job.id), **arguments}))["job"]["logs"]
    info = logs["pageInfo"]
    return [edge["node"]["message"] for edge in logs["edges"]], info["hasNextPage"], info["endCursor"]


async def test_the_log_reads_newest_first_and_pages_both_ways_from_a_line(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)
    await write_logs(
        LogLine(job.id, LogLevel.WARNING if number % 2 else LogLevel.INFO, f"line {number}") for number in range(7)
    )

    newest, more, cursor = await page(viewer, job, order="DESC", first=3)
    assert (newest, more) == (["line 6", "line 5", "line 4"], True)
    older, more, oldest_cursor = await page(viewer, job, order="DESC", first=3, after=cursor)
    assert (older, more) == (["line 3", "line 2", "line 1"], True)
    # From the oldest line read, back towards the newest: the same cursor, the other order.
    newer, more, _ = await page(viewer, job, order="ASC", first=3, after=oldest_cursor)
    assert (newer, more) == (["line 2", "line 3", "line 4"], True)
    assert (await page(viewer, job, first=2))[0] == ["line 0", "line 1"]  # oldest first unless asked
    # Filters hold in either order.
    assert (await page(viewer, job, order="DESC", level="WARNING"))[0] == ["line 5", "line 3", "line 1"]
    counted = await viewer.data(LOGS, {"id": gid("Job", job.id), "order": "DESC", "level": "WARNING", "first": 1})
    assert counted["job"]["logs"]["totalCount"] == 3


async def test_a_line_names_its_record_and_a_page_reads_them_in_one_statement(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)
    other = await start((await acme_api.as_(Role.OPERATOR)).actor)
    for index in range(3):
        await add_chunk(job, index, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED, RecordStatus.FAILED])
    await add_chunk(other, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED])
    records = {(record.chunk_id, record.key): record for record in await Record.filter(job_id=job.id)}
    assert len(records) == 6
    await write_logs(
        [
            LogLine(job.id, LogLevel.INFO, "the job started"),
            LogLine(job.id, LogLevel.ERROR, "r101 failed", chunk_index=1, record_key="r101"),
            LogLine(job.id, LogLevel.INFO, "r0 done", chunk_index=0, record_key="r0"),
            LogLine(job.id, LogLevel.INFO, "a key chunk 0 never had", chunk_index=0, record_key="r101"),
            LogLine(job.id, LogLevel.INFO, "a record not written yet", chunk_index=2, record_key="r299"),
            LogLine(job.id, LogLevel.WARNING, "chunk 2 lost its worker", chunk_index=2),
        ]
    )

    async def read(first: int) -> tuple[list[dict[str, Any]], list[str]]:
        with counting_statements() as counter:
            data = await viewer.data(LOG_RECORDS, {"id": gid("Job", job.id), "first": first})
        return [edge["node"] for edge in data["job"]["logs"]["edges"]], counter.statements

    await viewer.data("{ viewer { name } }")  # the token's first request this minute notes its use
    lines, statements = await read(6)
    by_message = {line["message"]: line["record"] for line in lines}
    record = await Record.get(job_id=job.id, key="r101")
    assert by_message["r101 failed"] == {
        "id": gid("Record", record.id), "key": "r101", "status": "FAILED", "job": {"id": gid("Job", job.id)}
    }
    assert by_message["r0 done"]["key"] == "r0"
    for message in ("the job started", "a key chunk 0 never had", "a record not written yet", "chunk 2 lost its worker"):
        assert by_message[message] is None, message
    # A page naming one record and a page naming several cost the same statements.
    _, one = await read(2)
    assert len(statements) == len(one), "\n".join(statements)
    assert sum(" JOIN record " in statement for statement in statements) == 1, "\n".join(statements)
    # Without record in the selection, no record is read.
    with counting_statements() as counter:
        await viewer.data(LOGS, {"id": gid("Job", job.id)})
    assert not any(" JOIN record " in statement for statement in counter.statements), "\n".join(counter.statements)
    line = await JobLog.get(job_id=job.id, message="r101 failed")
    node = await viewer.data(
        "query N($id: ID!) { node(id: $id) { ... on LogEntry { record { key } } } }", {"id": gid("LogEntry", line.id)}
    )
    assert node == {"node": {"record": {"key": "r101"}}}


JOB_LOGS_WITH_RECORDS = """
subscription($jobId: ID!) {
  jobLogs(jobId: $jobId) { ...Line }
}
fragment Line on LogEntry { message recordKey record { id key } }
"""


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_streamed_line_names_its_record(api: LiveApi, acme: TenantFixture, redis: Redis):
    job = await start(acme.actor(Role.OPERATOR))
    chunk = await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.FAILED])
    record = await Record.get(chunk_id=chunk.id)
    publisher = ProgressPublisher(redis)
    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        logs = await ws.subscribe(JOB_LOGS_WITH_RECORDS, {"jobId": gid("Job", job.id)})
        # Lines count from the moment the server holds the subscription: probe until it does.
        for attempt in range(100):
            probe = LogLine(job.id, LogLevel.INFO, f"probe {attempt}")
            await write_logs([probe])
            await publisher.logs([probe])
            try:
                await logs.data(timeout=0.5)
                break
            except AssertionError:
                continue
        lines = [
            LogLine(job.id, LogLevel.ERROR, "r0 failed", chunk_index=0, record_key="r0"),
            LogLine(job.id, LogLevel.INFO, "no record here"),
        ]
        await write_logs(lines)
        await publisher.logs(lines)
        received = await logs.collect(
            lambda got: any(entry["jobLogs"]["message"] == "no record here" for entry in got), what="both lines"
        )

    by_message = {entry["jobLogs"]["message"]: entry["jobLogs"]["record"] for entry in received}
    assert by_message["r0 failed"] == {"id": gid("Record", record.id), "key": "r0"}
    assert by_message["no record here"] is None

