"""Subscriptions over a real WebSocket: ``jobtower api`` in its own process, a real Redis,
the real database, and either real workers or the domain verbs and the relay run here.

A client speaks graphql-transport-ws by hand (``tests.gql.ws``). What is checked
is what a live screen notices: every status event once, in seq order, after a
reconnect too (a job's by seq, a tenant's by tenantSeq); progress and the records
in flight while a job runs; log lines at the level asked for;
only the jobs a filter and the subscriber's role let through; and nothing at
all about another tenant's jobs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from domain.access import Role
from domain.jobs import (
    StartJobRequest,
    finish_job,
    hide_job,
    mark_drained,
    mark_running,
    resume_job,
    set_job_low_priority,
    start_job,
    stop_job,
)
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Job, JobEvent, JobLog, Tenant
from domain.statuses import TERMINAL, JobOutcome, JobStatus
from gql.ids import to_global_id
from tests.cluster import Cluster, wait_until
from tests.conftest import MakeTenant, TenantFixture
from tests.gql.live import (  # noqa: F401  (fixtures)
    Api,
    api,
    cluster,
    live_redis_url,
    redis,
    relay_all,
    relay_nothing_so_far,
    token,
)
from tests.gql.ws import GraphQLWebSocket, Operation, Rejected, graphql_ws
from tests.workers.support import start, wait_for_status
from workers.progress import ProgressPublisher

JOB_UPDATED = """
subscription($id: ID!, $afterSeq: Int) {
  jobUpdated(id: $id, afterSeq: $afterSeq) {
    seq kind at
    job { id status seq progress { done total } }
  }
}"""
JOBS_CHANGED = """
subscription($filter: JobFilter) {
  jobsChanged(filter: $filter) { seq kind fromStatus toStatus actor { kind } job { id status hidden } }
}"""
# What an event says it changed, who or what caused it and when.
JOB_CHANGES = """
subscription($id: ID!, $afterSeq: Int) {
  jobUpdated(id: $id, afterSeq: $afterSeq) {
    seq kind at fromStatus toStatus operation actor { kind name } changes { field value }
    job { status }
  }
}"""
JOB_LOGS = """
subscription($jobId: ID!, $level: LogLevel) {
  jobLogs(jobId: $jobId, level: $level) { id level message recordKey }
}"""
JOB_QUERY = "query($id: ID!) { job(id: $id) { status seq progress { done total } } }"


def gid(job: Job) -> str:
    return str(to_global_id("Job", job.id))


async def recorded(job: Job) -> list[tuple[int, str, str]]:
    rows = await JobEvent.filter(job_id=job.id).order_by("seq").values_list("seq", "kind", "to_status")
    return [(seq, kind, str(status)) for seq, kind, status in rows]


def summary(events: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(e["jobUpdated"]["seq"], e["jobUpdated"]["kind"], e["jobUpdated"]["job"]["status"]) for e in events]


def last_seq_is(seq: int):
    return lambda received: bool(received) and received[-1]["jobUpdated"]["seq"] >= seq


async def query(ws: GraphQLWebSocket, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A query over the same WebSocket: what a pull refresh shows."""
    operation = await ws.subscribe(document, variables)
    data = await operation.data()
    assert (await operation.message())["type"] == "complete"
    return data


# ---------------------------------------------------------------- authentication and access


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_connection_without_a_valid_token_is_rejected_at_connection_init(api: Api, acme: TenantFixture):
    for bad in ({"authorization": "Bearer jt_not-a-token"}, {"authorization": "jt_no-scheme"}, {}):
        with pytest.raises(Rejected) as rejected:
            async with graphql_ws(api.ws, None, payload=bad):
                pass
        assert rejected.value.code == 4403, bad

    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        viewer = await query(ws, "{ viewer { role } }", {})
    assert viewer == {"viewer": {"role": "VIEWER"}}


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_another_tenants_job_answers_exactly_like_a_missing_one(
    api: Api, make_tenant: MakeTenant, redis: Redis
):
    acme, globex = await make_tenant(), await make_tenant()
    await relay_nothing_so_far()
    theirs = await start(globex, "test.plain", records=5)
    system = await start(acme, "test.system", records=5)  # admins only
    ours = await start(acme, "test.plain", records=5)
    missing = str(to_global_id("Job", 2**62))
    # The id as the client sent it, in the message, is all a refusal says.
    cases = {gid(theirs): "theirs", gid(system): "system", missing: "missing", "not-an-id": "malformed"}

    async with graphql_ws(api.ws, await token(acme, Role.OPERATOR)) as ws:
        answers = {}
        for job_id, case in cases.items():
            for document, variables in (
                (JOB_UPDATED, {"id": job_id, "afterSeq": 0}),
                (JOB_LOGS, {"jobId": job_id}),
            ):
                operation = await ws.subscribe(document, variables)
                first, second = await operation.message(), await operation.message()
                text = json.dumps([first, second]).replace(job_id, "<ID>")
                text = text.replace(f'"id": "{operation.id}"', '"id": "<OP>"')
                answers.setdefault(document, {})[case] = json.loads(text)
        for document, by_case in answers.items():
            assert by_case["theirs"] == by_case["missing"] == by_case["system"] == by_case["malformed"], by_case
            refusal, done = by_case["theirs"]
            assert refusal["type"] == "next" and refusal["payload"]["data"] is None
            [error] = refusal["payload"]["errors"]
            assert error["message"] == "job <ID> not found" and error["extensions"] == {"code": "NOT_FOUND", "jobtowerCode": "NOT_FOUND"}
            assert done["type"] == "complete"

        # Their job moves on; none of it reaches this connection, while our own job's events do.
        await mark_running(theirs.id)
        await finish_job(theirs.id)
        await mark_running(ours.id)
        await relay_all(redis)
        mine = await ws.subscribe(JOB_UPDATED, {"id": gid(ours), "afterSeq": 1})
        [update] = await mine.collect(lambda received: len(received) >= 1)
        assert (update["jobUpdated"]["seq"], update["jobUpdated"]["job"]["status"]) == (2, "RUNNING")
        everything = [message for op in ws.operations.values() for message in op.pending()]
        assert everything == [], everything

    # The system job is there for an admin of the tenant: the viewer was refused, not the id.
    async with graphql_ws(api.ws, await token(acme, Role.ADMIN)) as ws:
        admin = await ws.subscribe(JOB_UPDATED, {"id": gid(system), "afterSeq": 0})
        [created] = await admin.collect(lambda received: len(received) >= 1)
        assert created["jobUpdated"]["kind"] == "CREATED"

    # A filter naming another tenant is refused the way the job list refuses it.
    async with graphql_ws(api.ws, await token(acme, Role.OPERATOR)) as ws:
        other = str(to_global_id("Tenant", globex.tenant.id))
        operation = await ws.subscribe(JOBS_CHANGED, {"filter": {"tenantId": other}})
        refusal = await operation.message()
        assert refusal["payload"]["errors"][0]["extensions"] == {"code": "NOT_FOUND", "jobtowerCode": "NOT_FOUND"}


# ---------------------------------------------------------------- gap-free


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_subscriber_that_drops_and_resumes_with_after_seq_gets_exactly_what_it_missed(
    api: Api, acme: TenantFixture, redis: Redis
):
    admin = acme.actor(Role.ADMIN)
    await relay_nothing_so_far()
    job = await start(acme, "test.plain", records=5)
    await relay_all(redis)
    viewer = await token(acme, Role.VIEWER)

    async with graphql_ws(api.ws, viewer) as ws:
        first = await ws.subscribe(JOB_UPDATED, {"id": gid(job), "afterSeq": 0})
        seen = await first.collect(last_seq_is(1), what="the replayed CREATED")
        await set_job_low_priority(admin, job.id, True)
        await mark_running(job.id)
        await relay_all(redis)
        seen += await first.collect(last_seq_is(3), what="the live events 2 and 3")
    # The connection dropped without a word; the job moved on meanwhile.
    await stop_job(admin, job.id)
    await mark_drained(job.id)
    await resume_job(admin, job.id)
    await relay_all(redis)
    missed_from = seen[-1]["jobUpdated"]["seq"]

    async with graphql_ws(api.ws, viewer) as ws:
        again = await ws.subscribe(JOB_UPDATED, {"id": gid(job), "afterSeq": missed_from})
        missed = await again.collect(last_seq_is(6), what="the events missed while away")
        await mark_running(job.id)
        await finish_job(job.id)
        await relay_all(redis)
        live = await again.collect(last_seq_is(8), what="the live events after the replay")
        refreshed = await query(ws, JOB_QUERY, {"id": gid(job)})

    history = await recorded(job)
    assert [seq for seq, _, _ in history] == list(range(1, 9))
    assert [(s, k) for s, k, _ in summary(seen)] == [(s, k) for s, k, _ in history[:3]]
    assert [(s, k) for s, k, _ in summary(missed)] == [(s, k) for s, k, _ in history[3:6]]
    assert [(s, k) for s, k, _ in summary(live)] == [(s, k) for s, k, _ in history[6:]]
    # Each event carries the job as of its delivery: the last one is what a refresh shows.
    final = live[-1]["jobUpdated"]["job"]
    assert final["status"] == "FINISHED" == refreshed["job"]["status"]
    assert final["seq"] == refreshed["job"]["seq"] == 8


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_live_events_keep_seq_order_when_the_relay_skips_or_repeats_them(
    api: Api, acme: TenantFixture, redis: Redis
):
    admin = acme.actor(Role.ADMIN)
    job = await start(acme, "test.plain", records=5)
    await relay_nothing_so_far()
    progress = ProgressPublisher(redis, min_interval=0)

    async def progress_report(seq: int, done: int) -> None:
        """What a worker does at a flush: raise the job's counters, then publish the seq it knows."""
        await Job.filter(id=job.id).update(done=done, succeeded=done)
        current = await Job.get(id=job.id)
        await progress.progress(job_id=job.id, tenant_id=job.tenant_id, seq=seq, status=current.status.value)

    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        live = await ws.subscribe(JOB_UPDATED, {"id": gid(job), "afterSeq": 1})

        # Event 2 is never relayed (Redis lost it); event 3 is. 2 comes first, from the database.
        await mark_running(job.id)
        await relay_nothing_so_far()
        await set_job_low_priority(admin, job.id, True)
        await relay_all(redis)
        received = await live.collect(last_seq_is(3), what="events 2 and 3")

        # Progress that knows of event 4 before the relay published it: 4 comes first.
        await stop_job(admin, job.id)
        await relay_nothing_so_far()
        await progress_report(seq=4, done=2)
        received += await live.collect(
            lambda got: bool(got) and got[-1]["jobUpdated"]["kind"] == "PROGRESS", what="progress after event 4"
        )

        # The relay publishes 2, 3 and 4 again (it stopped before marking them published),
        # then 5; a worker that still knows seq 3 reports progress: it never takes seq back.
        await JobEvent.filter(job_id=job.id, seq__gte=2).update(awaiting_relay=True)
        await set_job_low_priority(admin, job.id, False)
        await relay_all(redis)
        received += await live.collect(last_seq_is(5), what="event 5")
        await progress_report(seq=3, done=3)
        received += await live.collect(
            lambda got: bool(got) and got[-1]["jobUpdated"]["kind"] == "PROGRESS", what="stale progress"
        )
        refreshed = await query(ws, JOB_QUERY, {"id": gid(job)})

    assert [(seq, kind) for seq, kind, _ in summary(received)] == [
        (2, "STATUS_CHANGED"),
        (3, "PRIORITY_CHANGED"),
        (4, "STATUS_CHANGED"),
        (4, "PROGRESS"),
        (5, "PRIORITY_CHANGED"),
        (5, "PROGRESS"),
    ]
    statuses = [(s, k) for s, k, _ in summary(received) if k != "PROGRESS"]
    assert statuses == [(s, k) for s, k, _ in (await recorded(job))[1:]]
    # Live progress is the pull refresh's: the database's counters.
    last = received[-1]["jobUpdated"]["job"]
    assert last["progress"] == refreshed["job"]["progress"] and last["progress"]["done"] == 3
    assert last["status"] == refreshed["job"]["status"] == "STOPPING"


# The job's name only, through a fragment: an answer that differs from JOB_UPDATED's for the same event.
JOB_NAME = "subscription($id: ID!) { jobUpdated(id: $id) { kind job { ...Named } } } fragment Named on Job { name }"
CHILDREN = "subscription($id: ID!) { jobUpdated(id: $id) { kind job { children { totalCount } } } }"


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_many_subscribers_of_a_job_each_get_their_own_answer_in_order_until_they_complete(
    api: Api, acme: TenantFixture, redis: Redis
):
    """Subscribers whose answers are shared are sent them at once; what each receives is still
    what its document, role and resume point ask for, under its own operation id."""
    admin = acme.actor(Role.ADMIN)
    job = await start(acme, "test.plain", records=5)
    await start_job(admin, StartJobRequest(type="test.system", parent_id=job.id))  # a child only admins see
    await mark_running(job.id)
    await relay_all(redis)
    progress = ProgressPublisher(redis, min_interval=0)

    async def progress_report(done: int) -> None:
        await Job.filter(id=job.id).update(done=done, succeeded=done)
        current = await Job.get(id=job.id)
        await progress.progress(job_id=job.id, tenant_id=job.tenant_id, seq=current.seq, status="RUNNING")

    def progress_done(events: list[dict[str, Any]]) -> list[int]:
        return [e["jobUpdated"]["job"]["progress"]["done"] for e in events if e["jobUpdated"]["kind"] == "PROGRESS"]

    def reached(done: int):
        return lambda received: done in progress_done(received)

    async with (
        graphql_ws(api.ws, await token(acme, Role.VIEWER)) as viewer,
        graphql_ws(api.ws, await token(acme, Role.ADMIN)) as admins,
    ):
        resumed = {after: await viewer.subscribe(JOB_UPDATED, {"id": gid(job), "afterSeq": after}) for after in (0, 1)}
        received = {after: await op.collect(last_seq_is(2), what="the replay") for after, op in resumed.items()}
        named = await viewer.subscribe(JOB_NAME, {"id": gid(job)})
        children = {"viewer": viewer, "admin": admins}
        children = {who: await ws.subscribe(CHILDREN, {"id": gid(job)}) for who, ws in children.items()}
        # Progress until the subscriptions without a replay listen too.
        first = {op.id: asyncio.ensure_future(op.message()) for op in (named, *children.values())}
        for done in range(1, 200):
            await progress_report(done)
            await asyncio.wait(first.values(), timeout=0.2)
            if all(task.done() for task in first.values()):
                break
        firsts = {op_id: task.result() for op_id, task in first.items()}
        # Live: progress, a status event between, more progress.
        for done in range(1000, 1003):
            await progress_report(done)
            for after, op in resumed.items():
                received[after] += await op.collect(reached(done), what=f"progress {done}")
        await set_job_low_priority(admin, job.id, True)
        await relay_all(redis)
        for after, op in resumed.items():
            received[after] += await op.collect(last_seq_is(3), what="the priority change")
        await viewer.complete(resumed[1])
        await query(viewer, JOB_QUERY, {"id": gid(job)})  # the server has taken the complete: it answered after it
        for done in range(1003, 1006):
            await progress_report(done)
            received[0] += await resumed[0].collect(reached(done), what=f"progress {done}")
        await query(viewer, JOB_QUERY, {"id": gid(job)})  # every frame written before its answer is here
        after_complete = resumed[1].pending()

    assert all(message["type"] == "next" and not message["payload"].get("errors") for message in firsts.values())
    assert firsts[named.id]["payload"]["data"] == {"jobUpdated": {"kind": "PROGRESS", "job": {"name": job.name}}}
    totals = {who: firsts[op.id]["payload"]["data"]["jobUpdated"]["job"]["children"] for who, op in children.items()}
    assert totals == {"viewer": {"totalCount": 0}, "admin": {"totalCount": 1}}
    history = await recorded(job)
    for after, events in received.items():
        assert [(s, k) for s, k, _ in summary(events) if k != "PROGRESS"] == [(s, k) for s, k, _ in history[after:3]]
        seqs = [e["jobUpdated"]["seq"] for e in events]
        assert seqs == sorted(seqs)
        assert [done for done in progress_done(events) if done >= 1000] == list(range(1000, 1006 - 3 * after))
    assert after_complete == []


def what_changed(events: list[dict[str, Any]]) -> list[tuple]:
    return [
        (e["seq"], e["kind"], e["fromStatus"], e["toStatus"], e["operation"], e["actor"]["kind"], e["actor"]["name"],
         [(c["field"], c["value"]) for c in e["changes"]])
        for e in (received["jobUpdated"] for received in events)
    ]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_replayed_and_live_events_say_what_each_changed_not_what_the_job_is_now(
    api: Api, acme: TenantFixture, redis: Redis
):
    operator = acme.actor(Role.ADMIN, name="night shift")
    await relay_nothing_so_far()
    job = await start(acme, "test.plain", records=5)
    await mark_running(job.id)
    await set_job_low_priority(operator, job.id, True)
    await stop_job(operator, job.id)
    await relay_nothing_so_far()  # no live screen saw these: only the replay has them

    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        updates = await ws.subscribe(JOB_CHANGES, {"id": gid(job), "afterSeq": 0})
        replayed = await updates.collect(last_seq_is(4), what="the replayed events")
        await mark_drained(job.id)
        await relay_all(redis)
        live = await updates.collect(last_seq_is(5), what="the live event")

    assert what_changed(replayed + live) == [
        (1, "CREATED", None, "PENDING", None, "USER", "admin user", []),
        (2, "STATUS_CHANGED", "PENDING", "RUNNING", "CHUNK_STARTED", "WORKER", "worker", []),
        (3, "PRIORITY_CHANGED", "RUNNING", "RUNNING", None, "USER", "night shift", [("lowPriority", True)]),
        (4, "STATUS_CHANGED", "RUNNING", "STOPPING", "STOP", "USER", "night shift", []),
        (5, "STATUS_CHANGED", "STOPPING", "STOPPED", "DRAINED", "WORKER", "worker", []),
    ]
    recorded_at = await JobEvent.filter(job_id=job.id).order_by("seq").values_list("at", flat=True)
    assert [datetime.fromisoformat(e["jobUpdated"]["at"]) for e in replayed + live] == recorded_at
    # The job beside each event is the job as of its delivery.
    assert {e["jobUpdated"]["job"]["status"] for e in replayed} == {"STOPPING"}
    assert live[-1]["jobUpdated"]["job"]["status"] == "STOPPED"


# ---------------------------------------------------------------- real workers


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_running_job_streams_progress_and_a_dropped_subscriber_resumes_gap_free(
    api: Api, cluster: Cluster, acme: TenantFixture
):
    records = 1200
    cluster.start_worker(worker_concurrency=2)
    cluster.start_dispatcher()
    job = await start(acme, "test.plain", records=records, stepMs=15, chunk_size=30)
    operator = acme.actor(Role.OPERATOR)
    viewer = await token(acme, Role.VIEWER)

    def moving(received: list[dict[str, Any]]) -> bool:
        done = [e["jobUpdated"]["job"]["progress"]["done"] for e in received if e["jobUpdated"]["kind"] == "PROGRESS"]
        return len(set(done)) >= 3

    async with graphql_ws(api.ws, viewer) as ws:
        before = await (await ws.subscribe(JOB_UPDATED, {"id": gid(job), "afterSeq": 0})).collect(
            moving, timeout=90, what="progress events while the job runs"
        )
    # Dropped mid-job. Someone stops the job meanwhile; the workers drain it.
    await stop_job(operator, job.id)
    stopped = await wait_for_status(job, JobStatus.STOPPED, timeout=60)
    resume_from = max(e["jobUpdated"]["seq"] for e in before)

    async with graphql_ws(api.ws, viewer) as ws:
        after = await ws.subscribe(JOB_UPDATED, {"id": gid(job), "afterSeq": resume_from})
        missed = await after.collect(last_seq_is(stopped.seq), what="the stop it missed")
        await resume_job(operator, job.id)
        finished = await wait_for_status(job, *TERMINAL, timeout=120)
        rest = await after.collect(last_seq_is(finished.seq), timeout=60, what="the rest of the run")

    history = await recorded(job)
    delivered = before + missed + rest
    status_events = [(s, k) for s, k, _ in summary(delivered) if k != "PROGRESS"]
    # Every recorded event exactly once, in order, across the reconnect.
    assert status_events == [(s, k) for s, k, _ in history]
    assert [s for s, _ in status_events] == list(range(1, len(history) + 1))
    assert [status for _, _, status in history[-3:]] == ["PENDING", "RUNNING", "FINISHED"]
    assert [(k, s) for _, k, s in summary(missed)] == [("STATUS_CHANGED", "STOPPED")] * 2
    # Progress never runs ahead of a status event, nor takes seq backwards.
    seqs = [e["jobUpdated"]["seq"] for e in delivered]
    assert seqs == sorted(seqs)
    # The job moved while it was watched: progress part-way, as a refresh would have shown it.
    done = [e["jobUpdated"]["job"]["progress"]["done"] for e in before if e["jobUpdated"]["kind"] == "PROGRESS"]
    assert any(0 < value < records for value in done), done
    final = rest[-1]["jobUpdated"]
    assert (final["kind"], final["job"]["status"]) == ("STATUS_CHANGED", "FINISHED")
    assert final["job"]["progress"] == {"done": records, "total": records}


@asynccontextmanager
async def replays_held() -> AsyncIterator[Callable[[], Awaitable[object]]]:
    """While it lasts nobody reads job events: a replay waits, the workers' progress goes on.
    Yields what waits until the API is held reading the events after a seq or a tenantSeq."""
    async with in_transaction() as connection:
        await connection.execute_query("LOCK TABLE job_event IN ACCESS EXCLUSIVE MODE")

        async def replay_waiting() -> bool:
            await connection.execute_query("SELECT pg_stat_clear_snapshot()")  # else one per transaction
            _, rows = await connection.execute_query(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                """ AND query LIKE '%FROM "job_event"%' AND query LIKE '%seq">%'"""
            )
            return bool(rows)

        yield lambda: wait_until(replay_waiting, timeout=30, what="the API to read the events to replay")


MOVING = "seq kind job { seq progress { done } }"
RESUMED = {
    "jobUpdated": (
        f"subscription($id: ID!, $afterSeq: Int) {{ jobUpdated(id: $id, afterSeq: $afterSeq) {{ {MOVING} }} }}"
    ),
    "jobsChanged": f"subscription($afterSeq: BigInt) {{ jobsChanged(afterSeq: $afterSeq) {{ {MOVING} }} }}",
}


def progress_of(data: dict[str, Any]) -> tuple[int, int, int]:
    """What a live screen shows moving: the event's seq, the job's seq, records done."""
    [event] = data.values()
    return event["seq"], event["job"]["seq"], event["job"]["progress"]["done"]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
@pytest.mark.parametrize("subscription", list(RESUMED))
async def test_a_resumed_subscriber_never_sees_progress_go_back_from_what_the_replay_showed(
    api: Api, cluster: Cluster, acme: TenantFixture, subscription: str
):
    # The replay carries the job as it is once the missed events are read; the live progress
    # that arrived meanwhile was read before. Holding the replay's read while the workers
    # write more records puts exactly that between them.
    cluster.start_worker(worker_concurrency=2)
    cluster.start_dispatcher()
    job = await start(acme, "test.plain", records=40_000, stepMs=50, chunk_size=5_000)
    started = await wait_for_status(job, JobStatus.RUNNING, timeout=60)
    running = await JobEvent.get(job_id=job.id, seq=started.seq)
    # Resumed just before the job started running: the replay is that one event.
    resume = {
        "jobUpdated": {"id": gid(job), "afterSeq": running.seq - 1},
        "jobsChanged": {"afterSeq": running.tenant_seq - 1},
    }

    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        watching = await ws.subscribe(JOB_UPDATED, {"id": gid(job)})
        resumes = []
        for _ in range(3):
            async with replays_held() as replay_waiting:
                resumed = await ws.subscribe(RESUMED[subscription], resume[subscription])
                await replay_waiting()
                # Live progress reaches the resumed subscriber's mailbox too, as it reaches this one.
                watching.pending()
                shown = progress_of(await watching.data(timeout=30))[2]

                async def written_since() -> bool:
                    nonlocal shown
                    for message in watching.pending():
                        shown = progress_of(message["payload"]["data"])[2]
                    return (await Job.get(id=job.id)).done > shown

                await wait_until(written_since, timeout=30, what="records written after the live progress")
            resumes.append(await resumed.collect(lambda got: len(got) >= 2, what="the replay, then live progress"))
            await ws.complete(resumed)

    for received in resumes:
        assert [event["kind"] for event in received[0].values()] == ["STATUS_CHANGED"]  # the replayed RUNNING
        for figure in zip(*map(progress_of, received), strict=True):
            assert list(figure) == sorted(figure), [progress_of(data) for data in received]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_job_logs_streams_the_lines_a_worker_writes_at_or_above_the_level(
    api: Api, cluster: Cluster, acme: TenantFixture, redis: Redis
):
    records = 40
    job = await start(acme, "test.chatty", records=records, stepMs=5, chunk_size=10)
    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        warnings = await ws.subscribe(JOB_LOGS, {"jobId": gid(job), "level": "WARNING"})
        everything = await ws.subscribe(JOB_LOGS, {"jobId": gid(job)})
        # Lines count from the moment the server holds the subscription: probe until it does.
        await until_both_receive(redis, job, (warnings, everything))

        cluster.start_worker(worker_concurrency=2)
        cluster.start_dispatcher()
        finished = await wait_for_status(job, *TERMINAL, timeout=90)
        assert finished.outcome is JobOutcome.SUCCEEDED, finished.error
        expected_warnings = records * 2  # WARNING and ERROR per record
        got_warnings = await warnings.collect(
            lambda got: len(written(got)) >= expected_warnings, what="the WARNING and ERROR lines"
        )
        got_everything = await everything.collect(
            lambda got: len(written(got)) >= records * 4, what="every line"
        )
        # One last line, the way a worker writes it: no record's line may arrive again before it.
        await write_and_publish(redis, job, "the end")
        extra, tails = [], []
        for operation in (warnings, everything):
            received = await operation.collect(ended, what="the last line")
            extra.append(written(received))
            tails.append(received)

    assert extra == [[], []], "no record's line comes twice"
    # The job's own lines (started, finished) reach the subscriber of every level, and only it.
    said = [entry["jobLogs"]["message"] for entry in got_everything + tails[1]]
    assert any(message.startswith("finished SUCCEEDED") for message in said)
    assert not any(entry["jobLogs"]["level"] == "INFO" for entry in got_warnings + tails[0])
    lines = await JobLog.filter(job_id=job.id, message__contains=" says ").values_list("id", "level")
    by_level = {
        level: {to_global_id("LogEntry", line_id) for line_id, lvl in lines if lvl == level} for level in LogLevel
    }
    delivered_warnings = [entry["jobLogs"] for entry in written(got_warnings)]
    assert {entry["level"] for entry in delivered_warnings} == {"WARNING", "ERROR"}
    assert len({entry["id"] for entry in delivered_warnings}) == len(delivered_warnings) == expected_warnings
    assert {entry["id"] for entry in delivered_warnings} == by_level[LogLevel.WARNING] | by_level[LogLevel.ERROR]
    delivered_all = [entry["jobLogs"] for entry in written(got_everything)]
    assert len({entry["id"] for entry in delivered_all}) == len(delivered_all) == records * 4
    assert {entry["recordKey"] for entry in delivered_all} == {str(n) for n in range(records)}


def written(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in received if " says " in entry["jobLogs"]["message"]]


def ended(received: list[dict[str, Any]]) -> bool:
    return bool(received) and received[-1]["jobLogs"]["message"] == "the end"


async def write_and_publish(redis: Redis, job: Job, message: str) -> None:
    """A WARNING line written and announced as a worker's flush does."""
    line = LogLine(job.id, LogLevel.WARNING, message)
    await write_logs([line])
    await ProgressPublisher(redis).logs([line])


async def until_both_receive(redis: Redis, job: Job, operations: tuple[Operation, ...]) -> None:
    """Write probe lines the way a worker does until every subscription has received one."""
    waiting = list(operations)
    for attempt in range(100):
        await write_and_publish(redis, job, f"probe {attempt}")
        for operation in list(waiting):
            try:
                await operation.data(timeout=0.5)
                waiting.remove(operation)
            except AssertionError:
                continue
        if not waiting:
            for operation in operations:
                operation.pending()  # later probes, if any
            return
    raise AssertionError("the log subscriptions never received a probe line")


# ---------------------------------------------------------------- jobsChanged


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_jobs_changed_delivers_the_jobs_the_filter_and_the_role_let_through(
    api: Api, make_tenant: MakeTenant, redis: Redis
):
    acme, globex = await make_tenant(), await make_tenant()
    admin = acme.actor(Role.ADMIN)
    await relay_nothing_so_far()
    probe = await start(acme, "test.plain", records=1)
    await mark_running(probe.id)
    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        changes = await ws.subscribe(
            JOBS_CHANGED, {"filter": {"type": ["test.plain"], "status": ["RUNNING"]}}
        )
        # Toggle the running probe's priority until the server's subscription sees it.
        for attempt in range(100):
            await set_job_low_priority(admin, probe.id, attempt % 2 == 0)
            await relay_all(redis)
            try:
                await changes.data(timeout=0.5)
                break
            except AssertionError:
                continue

        entering = await start(acme, "test.plain", records=1)  # CREATED while PENDING: not shown
        await mark_running(entering.id)  # enters the filter
        await finish_job(entering.id)  # leaves it: shown, so a live list drops it
        other_type = await start(acme, "test.counted", records=1)
        await mark_running(other_type.id)
        other_tenant = await start(globex, "test.plain", records=1)
        await mark_running(other_tenant.id)
        system = await start(acme, "test.system", records=1)  # a viewer never sees system jobs
        await mark_running(system.id)
        hidden = await start(acme, "test.plain", records=1)
        await mark_running(hidden.id)
        await hide_job(admin, hidden.id)  # shown: the list drops it
        await finish_job(hidden.id)  # hidden now: not shown
        last = await start(acme, "test.plain", records=1)
        await mark_running(last.id)
        await relay_all(redis)

        received = await changes.collect(
            lambda got: any(e["jobsChanged"]["job"]["id"] == gid(last) for e in got), what="the last job"
        )

    delivered = [
        (e["jobsChanged"]["job"]["id"], e["jobsChanged"]["kind"], e["jobsChanged"]["seq"],
         e["jobsChanged"]["fromStatus"], e["jobsChanged"]["toStatus"], e["jobsChanged"]["actor"]["kind"])
        for e in received
        if e["jobsChanged"]["job"]["id"] != gid(probe)
    ]
    # Each event says its own move, whatever the job went on to do.
    assert delivered == [
        (gid(entering), "STATUS_CHANGED", 2, "PENDING", "RUNNING", "WORKER"),
        (gid(entering), "STATUS_CHANGED", 3, "RUNNING", "FINISHED", "WORKER"),
        (gid(hidden), "STATUS_CHANGED", 2, "PENDING", "RUNNING", "WORKER"),
        (gid(hidden), "HIDDEN", 3, "RUNNING", "RUNNING", "USER"),
        (gid(last), "STATUS_CHANGED", 2, "PENDING", "RUNNING", "WORKER"),
    ]
    # Each carries the job as of delivery: the one that left the filter shows where it went.
    shown = {e["jobsChanged"]["job"]["id"]: e["jobsChanged"]["job"] for e in received}
    assert shown[gid(entering)]["status"] == "FINISHED"
    assert shown[gid(hidden)]["hidden"] is True


# ---------------------------------------------------------------- liveOps

LIVE_OPS = "subscription { liveOps { counts { status count } queueDepth } }"


def pending(summary: dict[str, Any]) -> int:
    return next(item["count"] for item in summary["liveOps"]["counts"] if item["status"] == "PENDING")


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_live_ops_moves_with_the_subscribers_own_jobs_only(
    api: Api, make_tenant: MakeTenant, redis: Redis
):
    acme, globex = await make_tenant(), await make_tenant()
    await relay_nothing_so_far()
    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        live = await ws.subscribe(LIVE_OPS)
        [first] = await live.collect(lambda got: len(got) >= 1, what="the summary now")
        assert pending(first) == 0

        await start(globex, "test.plain", records=5)  # another tenant's: not in this summary
        ours = [await start(acme, "test.plain", records=5) for _ in range(2)]
        await relay_all(redis)
        updates = await live.collect(
            lambda got: bool(got) and pending(got[-1]) >= 2, what="our two pending jobs"
        )
        refreshed = await query(ws, "{ liveOps { counts { status count } queueDepth } }", {})

    assert pending(updates[-1]) == 2 == len(ours)
    assert updates[-1] == refreshed  # the same truth as a pull refresh
    assert all(pending(update) <= 2 for update in updates)


# ---------------------------------------------------------------- jobsChanged resumed by tenantSeq

JOBS_CHANGED_AFTER = """
subscription($filter: JobFilter, $afterSeq: BigInt) {
  jobsChanged(filter: $filter, afterSeq: $afterSeq) { tenantSeq seq kind job { id } }
}"""


def tenant_seq_is(seq: int):
    return lambda received: bool(received) and received[-1]["jobsChanged"]["tenantSeq"] >= seq


def changes_of(received: list[dict[str, Any]]) -> list[tuple[int, str, int, str]]:
    return [
        (e["tenantSeq"], e["job"]["id"], e["seq"], e["kind"]) for e in (r["jobsChanged"] for r in received)
    ]


async def tenant_events(tenant: TenantFixture) -> list[tuple[int, str, int, str]]:
    rows = await JobEvent.filter(tenant_id=tenant.tenant.id).order_by("tenant_seq").values_list(
        "tenant_seq", "job_id", "seq", "kind"
    )
    return [(tenant_seq, gid(Job(id=job_id)), seq, kind) for tenant_seq, job_id, seq, kind in rows]


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
async def test_jobs_changed_resumed_with_after_seq_misses_nothing_and_repeats_nothing_while_events_keep_coming(
    api: Api, acme: TenantFixture, redis: Redis
):
    admin = acme.actor(Role.ADMIN)
    await relay_nothing_so_far()
    jobs = [await start(acme, "test.plain", records=1) for _ in range(3)]
    viewer = await token(acme, Role.VIEWER)
    changing = asyncio.Event()
    changing.set()

    async def keep_changing() -> None:
        """Operators toggle the jobs' priority, and the relay publishes, until told to stop."""
        for turn in itertools.count():
            if not changing.is_set():
                return
            await set_job_low_priority(admin, jobs[turn % 3].id, turn // 3 % 2 == 0)
            await relay_all(redis)

    changer = asyncio.create_task(keep_changing())
    try:
        async with graphql_ws(api.ws, viewer) as ws:
            first = await ws.subscribe(JOBS_CHANGED_AFTER, {"afterSeq": 0})
            before = await first.collect(lambda got: len(got) >= 10, what="the first ten events")
        # The connection dropped; the events go on.
        left_at = before[-1]["jobsChanged"]["tenantSeq"]
        await wait_until(
            lambda: JobEvent.filter(tenant_id=acme.tenant.id, tenant_seq__gt=left_at + 10).exists(),
            what="ten more events while away",
        )
        async with graphql_ws(api.ws, viewer) as ws:
            again = await ws.subscribe(JOBS_CHANGED_AFTER, {"afterSeq": left_at})
            missed = await again.collect(tenant_seq_is(left_at + 10), what="the events missed while away")
            changing.clear()
            await changer
            last = (await Tenant.get(id=acme.tenant.id)).event_seq
            after = await again.collect(tenant_seq_is(last), what="the events after the replay")
    finally:
        changing.clear()
        await changer

    delivered = changes_of(before + missed + after)
    # Every event of the tenant once, in order, across the reconnect: none missed, none twice.
    assert delivered == await tenant_events(acme)
    assert [tenant_seq for tenant_seq, *_ in delivered] == list(range(1, last + 1))


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_platform_viewer_resumes_one_tenant_by_naming_it(api: Api, make_tenant: MakeTenant, redis: Redis):
    acme, globex = await make_tenant(), await make_tenant()
    await relay_nothing_so_far()
    ours = await start(acme, "test.plain", records=1)
    await start(globex, "test.plain", records=1)
    await mark_running(ours.id)
    await relay_all(redis)
    platform = await token(acme, Role.PLATFORM)

    acme_only = {"tenantId": str(to_global_id("Tenant", acme.tenant.id))}

    async with graphql_ws(api.ws, platform) as ws:
        everywhere = await ws.subscribe(JOBS_CHANGED_AFTER, {"afterSeq": 0})
        refusal = await everywhere.message()
        named = await ws.subscribe(JOBS_CHANGED_AFTER, {"afterSeq": 0, "filter": acme_only})
        replayed = await named.collect(tenant_seq_is(2), what="acme's two events")
        ahead = await ws.subscribe(JOBS_CHANGED_AFTER, {"afterSeq": 3, "filter": acme_only})
        beyond = await ahead.message()

    [error] = refusal["payload"]["errors"]
    assert error["extensions"]["jobtowerCode"] == "INVALID_INPUT" and "filter.tenantId" in error["message"]
    assert changes_of(replayed) == [(1, gid(ours), 1, "CREATED"), (2, gid(ours), 2, "STATUS_CHANGED")]
    assert beyond["payload"]["errors"][0]["extensions"]["jobtowerCode"] == "INVALID_INPUT"


# ---------------------------------------------------------------- records in flight

IN_FLIGHT = """
subscription($id: ID!) {
  jobUpdated(id: $id) { kind job { chunks(first: 5) { edges { node {
    index status progress { done } inFlight { count fromPosition }
  } } } } }
}"""
CHUNKS_IN_FLIGHT = "query($id: ID!) { job(id: $id) { chunks { edges { node { inFlight { count } } } } } }"


def running(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The running chunks as each event showed them."""
    return [
        edge["node"]
        for event in received
        for edge in event["jobUpdated"]["job"]["chunks"]["edges"]
        if edge["node"]["status"] == "RUNNING"
    ]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_running_chunk_shows_the_records_its_worker_has_in_hand_as_it_runs(
    api: Api, cluster: Cluster, acme: TenantFixture
):
    job = await start(acme, "test.plain", records=40, stepMs=50, chunk_size=40)
    async with graphql_ws(api.ws, await token(acme, Role.VIEWER)) as ws:
        live = await ws.subscribe(IN_FLIGHT, {"id": gid(job)})
        cluster.start_worker(worker_concurrency=1)
        cluster.start_dispatcher()
        received = await live.collect(
            lambda got: len({chunk["progress"]["done"] for chunk in running(got)}) >= 3,
            timeout=90, what="the running chunk's progress",
        )
        finished = await wait_for_status(job, *TERMINAL, timeout=90)
        done = await query(ws, CHUNKS_IN_FLIGHT, {"id": gid(job)})

    # What is in hand is what is not written yet, from the cursor: it shrinks as outcomes are written.
    for chunk in running(received):
        written = chunk["progress"]["done"]
        assert chunk["inFlight"] == {"count": 40 - written, "fromPosition": written}
    assert finished.outcome is JobOutcome.SUCCEEDED
    assert done["job"]["chunks"]["edges"][0]["node"]["inFlight"] is None
