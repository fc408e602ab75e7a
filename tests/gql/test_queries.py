"""Every query of the API over HTTP, on both databases: what a client reads is what happened."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain import jobs as verbs
from domain.access import Role
from domain.clock import utcnow
from domain.journey import entry
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import Chunk, Job, JobLog, Record
from domain.schedules import create_schedule, run_schedule_now
from domain.statuses import ChunkStatus, JobOutcome, JobStatus, RecordStatus, StepStatus
from tests.domain.scenarios import add_chunk, put_in, start
from tests.gql.support import TenantApi, gid
from tests.workers.support import discard_open_jobs
from workers import keys

JOB = """
query Job($id: ID!) {
  job(id: $id) {
    id type name status outcome system hidden lowPriority stoppable restartable chunkSize seq params error
    tenant { id slug name } runBy { id name kind role }
    createdAt startedAt endedAt waitingSeconds durationSeconds hasErrors stalled waitingReason
    progress { total done succeeded failed skipped interrupted canceled percent estimated }
    parent { id } root { id } restartedFrom { id }
  }
}
"""


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def names(api, filter: dict | None = None, **arguments) -> list[str]:
    data = await api.data(
        "query List($filter: JobFilter, $orderBy: JobOrder, $first: Int)"
        " { jobs(filter: $filter, orderBy: $orderBy, first: $first) { totalCount edges { node { name } } } }",
        {"filter": filter, **arguments},
    )
    listed = [edge["node"]["name"] for edge in data["jobs"]["edges"]]
    assert data["jobs"]["totalCount"] == len(listed)
    return listed


@pytest.fixture
async def live_worker(redis):
    """A worker's presence key, as a running worker keeps it: the API then sees one worker online.
    Work other tests left open is ended first: its chunks would count as busy roots."""
    await discard_open_jobs()
    key = keys.worker("gql-tests")
    await redis.set(key, 4, ex=60)
    yield
    await redis.delete(key)


# ---------------------------------------------------------------- who asks


async def test_viewer_names_the_principal_its_role_and_tenant(acme_api: TenantApi):
    for role in Role:
        api = await acme_api.as_(role)

        data = await api.data("{ viewer { role name principal { id name } tenant { id slug name } } }")

        assert data["viewer"] == {
            "role": role.value,
            "name": api.principal.name,
            "principal": {"id": gid("Principal", api.principal.id), "name": api.principal.name},
            "tenant": {"id": acme_api.id, "slug": acme_api.tenant.slug, "name": acme_api.tenant.name},
        }


async def test_the_viewers_principal_id_lists_its_own_runs(acme_api: TenantApi):
    operator, admin = await acme_api.as_(Role.OPERATOR), await acme_api.as_(Role.ADMIN)
    start = "mutation ($name: String) { startJob(input: {type: \"test.plain\", name: $name}) { __typename } }"
    await admin.data(start, {"name": "the admin's"})
    await operator.data(start, {"name": "the operator's"})

    me = (await operator.data("{ viewer { principal { id } } }"))["viewer"]["principal"]["id"]
    mine = await operator.data(
        "query ($by: ID) { jobs(filter: {runBy: $by}) { edges { node { name } } } }", {"by": me}
    )

    assert [edge["node"]["name"] for edge in mine["jobs"]["edges"]] == ["the operator's"]


async def test_usage_counts_this_months_jobs_against_the_plan(tenant_api):
    tenant = await tenant_api(jobs_per_month=5, records_per_month=1_000)
    operator = await tenant.as_(Role.OPERATOR)
    for _ in range(2):
        await start(operator.actor, params={"records": 3})

    data = await operator.data("{ usage { month jobsUsed jobsLimit recordsUsed recordsReserved recordsLimit } }")

    assert data["usage"] == {
        "month": utcnow().strftime("%Y-%m"),
        "jobsUsed": 2,
        "jobsLimit": 5,
        "recordsUsed": 0,  # records count as used when their job ends
        "recordsReserved": 6,  # until then, the jobs hold what they will run
        "recordsLimit": 1_000,
    }
    unlimited = await (await tenant_api()).as_(Role.VIEWER)
    assert (await unlimited.data("{ usage { jobsUsed jobsLimit recordsLimit } }"))["usage"] == {
        "jobsUsed": 0, "jobsLimit": None, "recordsLimit": None
    }


async def test_job_types_show_system_types_to_admins_only(acme_api: TenantApi):
    query = (
        "{ jobTypes { name stoppable restartable system defaultChunkSize paramsSchema steps { name batchSize } } }"
    )
    listed = {}
    for role in Role:
        listed[role] = {t["name"]: t for t in (await (await acme_api.as_(role)).data(query))["jobTypes"]}

    assert "test.system" not in listed[Role.VIEWER] and "test.system" not in listed[Role.OPERATOR]
    assert "test.system" in listed[Role.ADMIN] and "test.system" in listed[Role.PLATFORM]
    assert set(listed[Role.ADMIN]) - set(listed[Role.VIEWER]) == {
        name for name, t in listed[Role.ADMIN].items() if t["system"]
    }
    assert listed[Role.VIEWER]["test.non_stoppable"] == {
        "name": "test.non_stoppable",
        "stoppable": False,
        "restartable": True,
        "system": False,
        "defaultChunkSize": 100,
        "paramsSchema": listed[Role.VIEWER]["test.plain"]["paramsSchema"],
        "steps": [{"name": "work", "batchSize": None}],
    }
    assert [step["name"] for step in listed[Role.VIEWER]["test.approval"]["steps"]] == ["prepare", "approve", "send"]
    assert listed[Role.VIEWER]["test.batched"]["steps"] == [
        {"name": "prepare", "batchSize": None}, {"name": "write", "batchSize": 8}, {"name": "after", "batchSize": None}
    ]
    assert listed[Role.VIEWER]["test.plain"]["paramsSchema"]["properties"]["records"]["maximum"] == 1_000_000


# ---------------------------------------------------------------- one job


async def test_a_pending_job_waits_and_its_waiting_time_grows(acme_api: TenantApi, live_worker):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor, name="nightly sync", params={"records": 10}, chunk_size=4)

    first = (await operator.data(JOB, {"id": gid("Job", job.id)}))["job"]
    second = (await operator.data(JOB, {"id": gid("Job", job.id)}))["job"]

    assert first == {
        "id": gid("Job", job.id),
        "type": "test.plain",
        "name": "nightly sync",
        "status": "PENDING",
        "outcome": None,
        "system": False,
        "hidden": False,
        "lowPriority": False,
        "stoppable": True,
        "restartable": True,
        "chunkSize": 4,
        "seq": 1,
        "params": {"records": 10},
        "error": None,
        "tenant": {"id": acme_api.id, "slug": acme_api.tenant.slug, "name": acme_api.tenant.name},
        "runBy": {
            "id": gid("Principal", operator.principal.id),
            "name": operator.principal.name,
            "kind": "USER",
            "role": "OPERATOR",
        },
        "createdAt": first["createdAt"],
        "startedAt": None,
        "endedAt": None,
        "waitingSeconds": first["waitingSeconds"],
        "durationSeconds": None,
        "hasErrors": False,
        "stalled": False,
        "waitingReason": "QUEUED",
        # Not enumerated yet: the total is the type's estimate from the params.
        "progress": {
            "total": 10, "done": 0, "succeeded": 0, "failed": 0, "skipped": 0, "interrupted": 0, "canceled": 0,
            "percent": 0.0, "estimated": True,
        },
        "parent": None,
        "root": {"id": gid("Job", job.id)},
        "restartedFrom": None,
    }
    assert at(first["createdAt"]) == job.created_at
    assert 0 <= first["waitingSeconds"] < second["waitingSeconds"]


async def test_a_pending_job_without_workers_says_so(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)

    assert (await viewer.data(JOB, {"id": gid("Job", job.id)}))["job"]["waitingReason"] == "NO_WORKERS"


async def test_a_running_job_shows_the_counters_its_workers_raised(acme_api: TenantApi, live_worker):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor, params={"records": 10})
    started = job.created_at + timedelta(seconds=2)
    await put_in(
        job, JobStatus.RUNNING, started_at=started, total=10, done=8, succeeded=5, failed=1, skipped=1,
        interrupted=1, last_progress_at=utcnow(),
    )

    shown = (await viewer.data(JOB, {"id": gid("Job", job.id)}))["job"]

    assert shown["status"] == "RUNNING"
    assert shown["progress"] == {
        "total": 10, "done": 8, "succeeded": 5, "failed": 1, "skipped": 1, "interrupted": 1, "canceled": 0,
        "percent": 80.0, "estimated": False,
    }
    assert shown["hasErrors"] is True
    assert shown["waitingSeconds"] == 2.0  # fixed once started
    assert shown["durationSeconds"] >= (utcnow() - started).total_seconds() - 1
    assert (shown["waitingReason"], shown["stalled"]) == (None, False)

    await Job.filter(id=job.id).update(last_progress_at=utcnow() - timedelta(minutes=6))
    assert (await viewer.data(JOB, {"id": gid("Job", job.id)}))["job"]["stalled"] is True


async def test_a_running_job_with_no_worker_online_is_stalled(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)
    await put_in(job, JobStatus.RUNNING, last_progress_at=utcnow())

    assert (await viewer.data(JOB, {"id": gid("Job", job.id)}))["job"]["stalled"] is True


async def test_a_finished_job_shows_its_outcome_and_fixed_times(acme_api: TenantApi, redis):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor, params={"records": 4})
    started, ended = job.created_at + timedelta(seconds=1), job.created_at + timedelta(seconds=31)
    await put_in(
        job, JobStatus.FINISHED, outcome=JobOutcome.SUCCEEDED, started_at=started, ended_at=ended,
        total=4, done=4, succeeded=3, skipped=1,
    )

    shown = (await viewer.data(JOB, {"id": gid("Job", job.id)}))["job"]

    assert (shown["status"], shown["outcome"], shown["hasErrors"]) == ("FINISHED", "SUCCEEDED", False)
    assert (at(shown["startedAt"]), at(shown["endedAt"])) == (started, ended)
    assert (shown["waitingSeconds"], shown["durationSeconds"]) == (1.0, 30.0)
    assert shown["progress"] == {
        "total": 4, "done": 4, "succeeded": 3, "failed": 0, "skipped": 1, "interrupted": 0, "canceled": 0,
        "percent": 100.0, "estimated": False,
    }
    assert (shown["waitingReason"], shown["stalled"]) == (None, False)


async def test_an_error_log_line_or_a_failed_run_means_has_errors(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    operator = await acme_api.as_(Role.OPERATOR)
    logged = await start(operator.actor, name="logged")
    failed = await start(operator.actor, name="failed")
    await write_logs([LogLine(job_id=logged.id, level=LogLevel.ERROR, message="the CRM said no")])
    await put_in(failed, JobStatus.FAILED, error="enumeration failed: timeout", ended_at=utcnow())

    for job, error in ((logged, None), (failed, "enumeration failed: timeout")):
        shown = (await viewer.data(JOB, {"id": gid("Job", job.id)}))["job"]
        assert (shown["hasErrors"], shown["error"]) == (True, error)


async def test_a_restarted_job_links_the_job_it_restarts(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    old = await start(operator.actor)
    await put_in(old, JobStatus.FAILED, ended_at=utcnow())
    new = await verbs.restart_job(operator.actor, old.id)

    shown = (await operator.data(JOB, {"id": gid("Job", new.id)}))["job"]

    assert shown["restartedFrom"] == {"id": gid("Job", old.id)}
    assert (shown["status"], shown["root"]) == ("PENDING", {"id": gid("Job", new.id)})


async def test_ids_that_name_nothing_read_as_null(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)

    for id in (gid("Job", 987_654_321), "not-an-id", gid("Chunk", 1), "", "Sm9iOi0x"):
        assert await viewer.data("query J($id: ID!) { job(id: $id) { id } node(id: $id) { id } }", {"id": id}) == {
            "job": None, "node": None
        }, id


# ---------------------------------------------------------------- the tree of a job


TREE = """
query Tree($id: ID!, $status: [RecordStatus!]) {
  job(id: $id) {
    children(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { name parent { id } root { id } } } }
    childrenProgress { total done succeeded failed skipped percent estimated }
    chunks { totalCount edges { cursor node {
      id index status cursor attempts startedAt endedAt durationSeconds job { id }
      progress { total done succeeded failed skipped percent estimated }
      records { totalCount edges { node {
        id key position status outcome error attempts startedAt endedAt durationSeconds chunk { index } job { id }
        journey { name status startedAt endedAt durationSeconds detail error waitedSeconds answeredBy }
      } } }
    } } }
    failed: records(status: $status) { totalCount edges { node { key } } }
  }
}
"""


async def test_a_job_tree_reads_from_children_down_to_each_records_journey(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    parent = await start(operator.actor, type="test.approval", name="campaign", params={"records": 3})
    await put_in(parent, JobStatus.RUNNING)
    children = [await start(operator.actor, name=f"child {n}", parent_id=parent.id, params={"records": 2}) for n in range(3)]
    await put_in(children[0], JobStatus.FINISHED, outcome=JobOutcome.WITH_ERRORS, total=2, done=2, succeeded=1, failed=1)
    await put_in(children[1], JobStatus.RUNNING, total=2, done=1, succeeded=1)
    first = await add_chunk(parent, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED, RecordStatus.FAILED])
    second = await add_chunk(parent, 1, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    started = utcnow() - timedelta(minutes=1)
    await Chunk.filter(id=first.id).update(
        attempts=2, started_at=started, ended_at=started + timedelta(seconds=4), done=2, succeeded=1, failed=1
    )
    await Record.filter(chunk_id=first.id, key="r0").update(
        attempts=1, started_at=started, ended_at=started + timedelta(seconds=3),
        journey=[
            entry(0, StepStatus.SUCCEEDED, 0, 500_000),
            # Asked, waited 1.9 s for ana's answer, then ran again.
            entry(1, StepStatus.SUCCEEDED, 600_000, 2_000_000, {"approvedBy": "ana"}, None, 1_900_000, "ana of support"),
            entry(2, StepStatus.SUCCEEDED, 2_700_000, 300_000),
        ],
    )
    await Record.filter(chunk_id=first.id, key="r1").update(
        attempts=3, started_at=started, ended_at=started + timedelta(seconds=1), error="mailbox full",
        journey=[entry(0, StepStatus.FAILED, 0, 1_000_000, error="mailbox full")],
    )
    await Record.filter(chunk_id=second.id).update(
        started_at=started, journey=[entry(0, StepStatus.SUCCEEDED, 0, 1_000), entry(1, StepStatus.WAITING, 2_000)]
    )

    job = (await operator.data(TREE, {"id": gid("Job", parent.id), "status": ["FAILED"]}))["job"]

    assert job["children"]["totalCount"] == 3
    assert [edge["node"]["name"] for edge in job["children"]["edges"]] == ["child 0", "child 1"]
    assert job["children"]["pageInfo"]["hasNextPage"] is True
    assert all(
        edge["node"]["parent"] == edge["node"]["root"] == {"id": gid("Job", parent.id)} for edge in job["children"]["edges"]
    )
    # The third child has not counted its records yet: the roll-up is an estimate.
    assert job["childrenProgress"] == {
        "total": 4, "done": 3, "succeeded": 2, "failed": 1, "skipped": 0, "percent": 75.0, "estimated": True
    }
    chunks = [edge["node"] for edge in job["chunks"]["edges"]]
    assert job["chunks"]["totalCount"] == 2
    assert [(c["index"], c["status"], c["attempts"]) for c in chunks] == [(0, "COMPLETED", 2), (1, "RUNNING", 0)]
    assert chunks[0]["durationSeconds"] == 4.0 and chunks[0]["job"] == {"id": gid("Job", parent.id)}
    assert chunks[0]["progress"] == {
        "total": 2, "done": 2, "succeeded": 1, "failed": 1, "skipped": 0, "percent": 100.0, "estimated": False
    }
    good, bad = (edge["node"] for edge in chunks[0]["records"]["edges"])
    assert (good["key"], good["status"], good["outcome"], good["attempts"], good["durationSeconds"]) == (
        "r0", "SUCCEEDED", "SUCCEEDED", 1, 3.0
    )
    assert good["chunk"] == {"index": 0} and good["job"] == {"id": gid("Job", parent.id)}
    assert [(s["name"], s["status"], s["durationSeconds"], s["detail"], s["error"]) for s in good["journey"]] == [
        ("prepare", "SUCCEEDED", 0.5, None, None),
        ("approve", "SUCCEEDED", 2.0, {"approvedBy": "ana"}, None),
        ("send", "SUCCEEDED", 0.3, None, None),
    ]
    assert [(s["waitedSeconds"], s["answeredBy"]) for s in good["journey"]] == [
        (None, None), (1.9, "ana of support"), (None, None)
    ]
    assert at(good["journey"][1]["startedAt"]) == started + timedelta(seconds=0.6)
    assert at(good["journey"][1]["endedAt"]) == started + timedelta(seconds=2.6)
    assert (bad["status"], bad["outcome"], bad["error"], bad["attempts"]) == ("FAILED", "FAILED", "mailbox full", 3)
    assert [(s["name"], s["status"], s["error"]) for s in bad["journey"]] == [("prepare", "FAILED", "mailbox full")]
    [waiting] = (edge["node"] for edge in chunks[1]["records"]["edges"])
    assert (waiting["status"], waiting["outcome"], waiting["endedAt"]) == ("WAITING", None, None)
    assert waiting["durationSeconds"] >= 60  # still open: it grows
    assert [(s["name"], s["status"], s["endedAt"], s["durationSeconds"]) for s in waiting["journey"]] == [
        ("prepare", "SUCCEEDED", waiting["journey"][0]["endedAt"], 0.001),
        ("approve", "WAITING", None, None),
    ]
    assert job["failed"] == {"totalCount": 1, "edges": [{"node": {"key": "r1"}}]}
    by_id = await operator.data(
        "query R($id: ID!) { node(id: $id) { ... on Record { key durationSeconds journey { name detail } } } }",
        {"id": good["id"]},
    )
    assert by_id["node"] == {
        "key": "r0",
        "durationSeconds": 3.0,
        "journey": [
            {"name": "prepare", "detail": None}, {"name": "approve", "detail": {"approvedBy": "ana"}}, {"name": "send", "detail": None}
        ],
    }


async def test_children_page_on_with_their_cursor(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    parent = await start(operator.actor, name="parent")
    for n in range(5):
        await start(operator.actor, name=f"child {n}", parent_id=parent.id)
    query = (
        "query Kids($id: ID!, $after: String) { job(id: $id) { children(first: 2, after: $after) {"
        " pageInfo { hasNextPage endCursor } edges { node { name } } } } }"
    )

    seen, after = [], None
    while True:
        page = (await operator.data(query, {"id": gid("Job", parent.id), "after": after}))["job"]["children"]
        seen += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == [f"child {n}" for n in range(5)]


async def test_records_and_chunks_page_on_by_position(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor)
    for index in range(3):
        await add_chunk(job, index, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED] * 4)
    query = (
        "query Page($id: ID!, $after: String, $chunksAfter: String) { job(id: $id) {"
        " records(first: 5, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { key } } }"
        " chunks(first: 2, after: $chunksAfter) { pageInfo { hasNextPage endCursor } edges { node { index } } } } }"
    )

    keys_seen, chunks_seen, after, chunks_after = [], [], None, None
    for _ in range(3):
        page = (await operator.data(query, {"id": gid("Job", job.id), "after": after, "chunksAfter": chunks_after}))["job"]
        assert page["records"]["totalCount"] == 12
        keys_seen += [edge["node"]["key"] for edge in page["records"]["edges"]]
        chunks_seen += [edge["node"]["index"] for edge in page["chunks"]["edges"]]
        after = page["records"]["pageInfo"]["endCursor"]
        chunks_after = page["chunks"]["pageInfo"]["endCursor"] or chunks_after

    assert keys_seen == [f"r{index * 100 + n}" for index in range(3) for n in range(4)]
    assert chunks_seen == [0, 1, 2]


async def test_a_chunks_records_page_on_within_the_chunk(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor)
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED] * 5)
    await add_chunk(job, 1, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED] * 2)
    query = (
        "query Page($id: ID!, $after: String) { job(id: $id) { chunks(first: 1) { edges { node {"
        " records(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { key } } } } } } } }"
    )

    first = (await operator.data(query, {"id": gid("Job", job.id)}))["job"]["chunks"]["edges"][0]["node"]["records"]
    rest = (await operator.data(query, {"id": gid("Job", job.id), "after": first["pageInfo"]["endCursor"]}))["job"][
        "chunks"
    ]["edges"][0]["node"]["records"]

    assert (first["totalCount"], [e["node"]["key"] for e in first["edges"]], first["pageInfo"]["hasNextPage"]) == (
        5, ["r0", "r1", "r2"], True
    )
    assert ([e["node"]["key"] for e in rest["edges"]], rest["pageInfo"]["hasNextPage"]) == (["r3", "r4"], False)


# ---------------------------------------------------------------- logs


LOGS = """
query Logs($id: ID!, $level: LogLevel, $search: String, $since: DateTime, $until: DateTime, $first: Int, $after: String) {
  job(id: $id) { logs(level: $level, search: $search, since: $since, until: $until, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id at level message fields chunkIndex recordKey } }
  } }
}
"""


async def test_logs_filter_by_minimum_level_text_and_time_and_page_on(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)
    other = await start((await acme_api.as_(Role.OPERATOR)).actor)
    t0 = utcnow() - timedelta(hours=1)
    await write_logs(
        [
            LogLine(job_id=job.id, level=LogLevel.DEBUG, message="fetched page 1", at=t0),
            LogLine(job_id=job.id, level=LogLevel.INFO, message="Synced 100% of contacts", at=t0 + timedelta(minutes=1)),
            LogLine(
                job_id=job.id, level=LogLevel.WARNING, message="rate limited by the CRM", at=t0 + timedelta(minutes=2),
                fields={"retryAfter": 30}, chunk_index=3, record_key="contact-7",
            ),
            LogLine(job_id=job.id, level=LogLevel.ERROR, message="CRM rejected contact_7", at=t0 + timedelta(minutes=3)),
            LogLine(job_id=other.id, level=LogLevel.ERROR, message="another job's CRM error", at=t0),
        ]
    )

    async def messages(**arguments) -> list[str]:
        logs = (await viewer.data(LOGS, {"id": gid("Job", job.id), **arguments}))["job"]["logs"]
        assert logs["totalCount"] == len(logs["edges"])
        return [edge["node"]["message"] for edge in logs["edges"]]

    everything = ["fetched page 1", "Synced 100% of contacts", "rate limited by the CRM", "CRM rejected contact_7"]
    assert await messages() == everything
    assert await messages(level="WARNING") == everything[2:]
    assert await messages(level="ERROR") == everything[3:]
    assert await messages(search="crm") == everything[2:]
    assert await messages(search="100%") == ["Synced 100% of contacts"]  # % is text, not a wildcard
    assert await messages(search="t_7") == ["CRM rejected contact_7"]  # so is _
    assert await messages(search="t%7") == []
    assert await messages(since=(t0 + timedelta(minutes=1)).isoformat(), until=(t0 + timedelta(minutes=3)).isoformat()) == everything[1:3]
    assert await messages(level="INFO", search="c", since=(t0 + timedelta(minutes=2)).isoformat()) == everything[2:]

    detailed = (await viewer.data(LOGS, {"id": gid("Job", job.id), "level": "WARNING", "first": 1}))["job"]["logs"]
    line = detailed["edges"][0]["node"]
    assert (line["level"], line["fields"], line["chunkIndex"], line["recordKey"]) == (
        "WARNING", {"retryAfter": 30}, 3, "contact-7"
    )
    assert at(line["at"]) == t0 + timedelta(minutes=2)
    assert (detailed["totalCount"], detailed["pageInfo"]["hasNextPage"]) == (2, True)
    rest = (await viewer.data(LOGS, {"id": gid("Job", job.id), "level": "WARNING", "after": detailed["pageInfo"]["endCursor"]}))
    assert [edge["node"]["message"] for edge in rest["job"]["logs"]["edges"]] == ["CRM rejected contact_7"]
    node = await viewer.data("query N($id: ID!) { node(id: $id) { ... on LogEntry { message } } }", {"id": line["id"]})
    assert node == {"node": {"message": "rate limited by the CRM"}}


async def test_a_log_search_longer_than_the_limit_is_invalid_input(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)

    body = await viewer.execute(LOGS, {"id": gid("Job", job.id), "search": "x" * 201})

    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "search"}
    ]


# ---------------------------------------------------------------- the job list


@pytest.fixture
async def listed(tenant_api):
    """A tenant with jobs that differ in every way the list filters on."""
    tenant = await tenant_api()
    operator = await tenant.as_(Role.OPERATOR)
    admin = await tenant.as_(Role.ADMIN)
    t0 = utcnow() - timedelta(days=1)
    made = {}
    for minutes, (name, actor, request) in enumerate(
        [
            ("Alpha contacts", operator.actor, {}),
            ("Beta sends", admin.actor, {"type": "test.non_stoppable"}),
            ("Gamma report", operator.actor, {}),
            ("prune", admin.actor, {"type": "test.system"}),
            ("Delta campaign", admin.actor, {"type": "test.approval"}),
        ]
    ):
        job = await start(actor, name=name, **request)
        await Job.filter(id=job.id).update(created_at=t0 + timedelta(minutes=10 * minutes))
        made[name] = job
    child = await start(operator.actor, name="Alpha child", parent_id=made["Alpha contacts"].id)
    await Job.filter(id=child.id).update(created_at=t0 + timedelta(minutes=5))
    made["Alpha child"] = child
    await put_in(made["Beta sends"], JobStatus.RUNNING)
    await put_in(made["Gamma report"], JobStatus.FINISHED, outcome=JobOutcome.SUCCEEDED, ended_at=utcnow())
    await verbs.hide_job(operator.actor, made["Gamma report"].id)
    return tenant, made, t0


async def test_the_job_list_filters_on_each_field(listed):
    tenant, made, t0 = listed
    operator = await tenant.as_(Role.OPERATOR)
    admin = await tenant.as_(Role.ADMIN)
    visible = ["Delta campaign", "Beta sends", "Alpha child", "Alpha contacts"]  # newest first

    assert await names(operator) == visible
    assert await names(operator, {"status": ["RUNNING"]}) == ["Beta sends"]
    assert await names(operator, {"status": ["PENDING", "RUNNING"]}) == visible
    assert await names(operator, {"type": ["test.non_stoppable", "test.approval"]}) == ["Delta campaign", "Beta sends"]
    assert await names(operator, {"tenantId": tenant.id}) == visible
    assert await names(operator, {"runBy": gid("Principal", admin.principal.id)}) == ["Delta campaign", "Beta sends"]
    assert await names(operator, {"search": "ALPHA"}) == ["Alpha child", "Alpha contacts"]  # the name
    assert await names(operator, {"search": "non_stop"}) == ["Beta sends"]  # the type
    assert await names(operator, {"search": tenant.tenant.slug}) == visible  # the tenant
    assert await names(operator, {"search": "admin of"}) == ["Delta campaign", "Beta sends"]  # who ran it
    assert await names(operator, {"search": "   "}) == visible
    assert await names(operator, {"createdAfter": (t0 + timedelta(minutes=5)).isoformat()}) == visible[:3]
    assert await names(operator, {"createdBefore": (t0 + timedelta(minutes=10)).isoformat()}) == visible[2:]
    assert await names(
        operator,
        {"createdAfter": (t0 + timedelta(minutes=5)).isoformat(), "createdBefore": (t0 + timedelta(minutes=11)).isoformat()},
    ) == ["Beta sends", "Alpha child"]
    assert await names(operator, {"includeHidden": True}) == ["Delta campaign", "Gamma report", "Beta sends", "Alpha child", "Alpha contacts"]
    assert await names(operator, {"rootOnly": True}) == ["Delta campaign", "Beta sends", "Alpha contacts"]
    # System jobs: only when asked for, and only admins may ask.
    assert await operator.error_codes("{ jobs(filter: {includeSystem: true}) { totalCount } }") == ["FORBIDDEN"]
    assert await names(admin) == visible
    assert await names(admin, {"includeSystem": True}) == ["Delta campaign", "prune", "Beta sends", "Alpha child", "Alpha contacts"]
    assert await names(admin, {"includeSystem": True, "includeHidden": True, "rootOnly": True}) == [
        "Delta campaign", "prune", "Gamma report", "Beta sends", "Alpha contacts"
    ]
    assert await names(admin, {"includeSystem": True, "includeHidden": True, "rootOnly": True, "search": "TA"}) == [
        "Delta campaign", "Beta sends", "Alpha contacts"
    ]


async def test_the_job_list_orders_by_creation_both_ways(listed):
    tenant, _, _ = listed
    operator = await tenant.as_(Role.OPERATOR)

    newest_first = await names(operator, orderBy={"field": "CREATED_AT", "direction": "DESC"})
    oldest_first = await names(operator, orderBy={"field": "CREATED_AT", "direction": "ASC"})

    assert newest_first == ["Delta campaign", "Beta sends", "Alpha child", "Alpha contacts"]
    assert oldest_first == list(reversed(newest_first))


async def test_a_platform_principal_lists_and_searches_every_tenant(listed, tenant_api):
    tenant, _, _ = listed
    other = await tenant_api()
    await start((await other.as_(Role.OPERATOR)).actor, name="Elsewhere")
    platform = await other.as_(Role.PLATFORM)

    assert await names(platform, {"search": tenant.tenant.slug}) == ["Delta campaign", "Beta sends", "Alpha child", "Alpha contacts"]
    assert await names(platform, {"tenantId": tenant.id, "includeSystem": True, "rootOnly": True}) == [
        "Delta campaign", "prune", "Beta sends", "Alpha contacts"
    ]
    assert await names(platform, {"tenantId": other.id}) == ["Elsewhere"]


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_the_job_list_pages_on_without_duplicates_or_omissions(acme_api: TenantApi, direction: str):
    operator = await acme_api.as_(Role.OPERATOR)
    created = [await start(operator.actor, name=f"job {n:02d}") for n in range(23)]
    # Jobs created in the same instant: the id breaks the tie, so no page boundary loses one.
    same_instant = utcnow() - timedelta(minutes=1)
    await Job.filter(id__in=[job.id for job in created[5:15]]).update(created_at=same_instant)
    expected = [
        job.id for job in sorted(
            await Job.filter(tenant_id=acme_api.tenant.id), key=lambda job: (job.created_at, job.id),
            reverse=direction == "DESC",
        )
    ]
    query = (
        "query Page($after: String, $order: JobOrder) { jobs(first: 5, after: $after, orderBy: $order) {"
        " totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }"
    )

    seen, after, pages = [], None, 0
    while True:
        page = (await operator.data(query, {"after": after, "order": {"direction": direction}}))["jobs"]
        pages += 1
        assert page["totalCount"] == 23
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert pages == 5
    assert seen == [gid("Job", job_id) for job_id in expected]


@pytest.mark.parametrize(
    ("path", "arguments"),
    [
        ("jobs", 'after: "bogus"'),
        ("jobs", 'after: "WzFd"'),  # a cursor of another list: [1]
        ("jobs", 'after: "WyJub3QgYSB0aW1lIiwgMV0="'),  # ["not a time", 1]
        ("jobs", "first: 101"),
        ("jobs", "first: -1"),
    ],
)
async def test_a_bogus_cursor_or_page_size_is_invalid_input(acme_api: TenantApi, path: str, arguments: str):
    viewer = await acme_api.as_(Role.VIEWER)

    body = await viewer.execute(f"{{ {path}({arguments}) {{ totalCount }} }}")

    assert body["data"] is None
    [error] = body["errors"]
    field = "first" if "first" in arguments else "after"
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": field}
    assert error["message"].startswith(f"{field}: ")


async def test_a_bogus_cursor_inside_a_job_is_invalid_input(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    job = await start((await acme_api.as_(Role.OPERATOR)).actor)

    for field in ("children", "chunks", "records", "logs"):
        body = await viewer.execute(
            f'query J($id: ID!) {{ job(id: $id) {{ name {field}(after: "bogus") {{ totalCount }} }} }}',
            {"id": gid("Job", job.id)},
        )
        assert body["data"] == {"job": None}, field
        assert [e["extensions"] for e in body["errors"]] == [
            {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "after"}
        ], field


async def test_a_search_longer_than_the_limit_is_invalid_input(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)

    body = await viewer.execute("query S($s: String) { jobs(filter: {search: $s}) { totalCount } }", {"s": "x" * 201})

    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "BAD_USER_INPUT", "jobtowerCode": "INVALID_INPUT", "field": "search"}
    ]


# ---------------------------------------------------------------- node(id)


async def test_node_finds_every_kind_of_object_by_its_id(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    job = await start(admin.actor, name="noded")
    chunk = await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.RUNNING])
    record = await Record.get(chunk_id=chunk.id)
    await write_logs([LogLine(job_id=job.id, level=LogLevel.INFO, message="hello")])
    line = await JobLog.get(job_id=job.id)
    schedule = await create_schedule(admin.actor, "hourly", "test.plain", "0 * * * *")
    query = """
    query N($id: ID!) { node(id: $id) { __typename id
      ... on Job { name } ... on Chunk { index } ... on Record { key } ... on LogEntry { message }
      ... on Tenant { slug } ... on Principal { name } ... on Schedule { cron }
    } }
    """

    for kind, pk, detail in [
        ("Job", job.id, {"name": "noded"}),
        ("Chunk", chunk.id, {"index": 0}),
        ("Record", record.id, {"key": "r0"}),
        ("LogEntry", line.id, {"message": "hello"}),
        ("Tenant", acme_api.tenant.id, {"slug": acme_api.tenant.slug}),
        ("Principal", admin.principal.id, {"name": admin.principal.name}),
        ("Schedule", schedule.id, {"cron": "0 * * * *"}),
    ]:
        id = gid(kind, pk)
        assert await admin.data(query, {"id": id}) == {"node": {"__typename": kind, "id": id, **detail}}, kind
        assert await admin.data(query, {"id": gid(kind, 987_654_321)}) == {"node": None}, kind
    assert await admin.data(query, {"id": gid("Unicorn", job.id)}) == {"node": None}


# ---------------------------------------------------------------- schedules


SCHEDULES = """
{ schedules { id name type cron enabled nextRunAt lastRunAt params
  lastRuns(first: 2) { job { id name status runBy { name } } } } }
"""


async def test_schedules_list_their_next_run_and_last_runs_newest_first(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    viewer = await acme_api.as_(Role.VIEWER)
    before = utcnow()
    nightly = await create_schedule(admin.actor, "nightly sync", "test.plain", "0 3 * * *", {"records": 2})
    paused = await create_schedule(admin.actor, "archive", "test.plain", "0 4 * * *", enabled=False)
    await create_schedule(admin.actor, "prune", "test.system", "0 5 * * *")
    runs = [await run_schedule_now(admin.actor, nightly.id) for _ in range(3)]

    schedules = (await viewer.data(SCHEDULES))["schedules"]

    assert [s["name"] for s in schedules] == ["archive", "nightly sync"]  # by name; system schedules for admins
    archive, sync = schedules
    assert (archive["enabled"], archive["nextRunAt"], archive["lastRunAt"], archive["lastRuns"]) == (False, None, None, [])
    assert sync["id"] == gid("Schedule", nightly.id)
    assert (sync["type"], sync["cron"], sync["enabled"], sync["params"]) == ("test.plain", "0 3 * * *", True, {"records": 2})
    next_run = at(sync["nextRunAt"])
    assert before < next_run <= before + timedelta(days=1) and (next_run.hour, next_run.minute) == (3, 0)
    assert at(sync["lastRunAt"]) >= before
    assert sync["lastRuns"] == [
        {"job": {"id": gid("Job", job.id), "name": "nightly sync", "status": "PENDING", "runBy": {"name": admin.principal.name}}}
        for job in reversed(runs[1:])
    ]
    assert archive["id"] == gid("Schedule", paused.id)
    admins = (await admin.data(SCHEDULES))["schedules"]
    assert [s["name"] for s in admins] == ["archive", "nightly sync", "prune"]


async def test_last_runs_of_a_system_schedule_are_hidden_from_non_admins(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    schedule = await create_schedule(admin.actor, "mixed", "test.plain", "0 3 * * *")
    run = await run_schedule_now(admin.actor, schedule.id)
    system_run = await start(admin.actor, type="test.system", schedule_id=schedule.id)

    as_admin = (await admin.data(SCHEDULES))["schedules"][0]["lastRuns"]
    as_viewer = (await (await acme_api.as_(Role.VIEWER)).data(SCHEDULES))["schedules"][0]["lastRuns"]

    assert [r["job"]["id"] for r in as_admin] == [gid("Job", system_run.id), gid("Job", run.id)]
    assert [r["job"]["id"] for r in as_viewer] == [gid("Job", run.id)]
