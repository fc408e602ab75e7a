"""Every mutation over HTTP: what it does, each typed refusal it can answer, and that a refusal
changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from domain.access import Role
from domain.clock import utcnow
from domain.models import Chunk, Job, JobLog, Record, Schedule
from domain.schedules import create_schedule
from domain.journey import entry
from domain.statuses import ChunkStatus, JobOutcome, JobStatus, RecordStatus, StepStatus
from domain.usage import plan_usage
from gql.ids import parse_global_id
from jobtower.job_types.campaign_run import APPROVAL_ANSWER
from tests.domain.scenarios import MISSING_ID, add_chunk, put_in, snapshot, start
from tests.gql.support import Api, TenantApi, gid

JOB = "job { id name type status lowPriority hidden chunkSize params parent { id } restartedFrom { id } runBy { name } }"
ERRORS = """
  ... on Error { code message }
  ... on NotFoundError { code }
  ... on ForbiddenError { neededRole }
  ... on InvalidTransitionError { status operation }
  ... on InvalidInputError { field }
"""
START_RESULT = f"""
  __typename
  ... on JobStarted {{ {JOB} }}
  {ERRORS}
  ... on PlanLimitError {{ resource limit used requested }}
  ... on UnknownJobTypeError {{ jobType }}
  ... on NotRestartableError {{ jobType }}
"""
OPERATION_RESULT = f"""
  __typename
  ... on JobOperationSuccess {{ {JOB} }}
  {ERRORS}
  ... on NotStoppableError {{ jobType }}
"""
RECORD_RESULT = f"""
  __typename
  ... on RecordOperationSuccess {{ record {{ id key status journey {{ name status }} }} }}
  {ERRORS}
"""


async def start_job(api: Api, **input: Any) -> dict:
    data = await api.data(
        f"mutation Start($input: StartJobInput!) {{ result: startJob(input: $input) {{ {START_RESULT} }} }}",
        {"input": {"type": "test.plain", **input}},
    )
    return data["result"]


async def operate(api: Api, mutation: str, job_id: int | str, **extra: Any) -> dict:
    id = job_id if isinstance(job_id, str) else gid("Job", job_id)
    if mutation in ("restartJob", "retryFailedRecords", "runScheduleNow"):
        selection = START_RESULT
    else:
        selection = OPERATION_RESULT
    argument = "jobId" if mutation == "retryFailedRecords" else "id"
    declared = "".join(f", ${name}: Boolean!" for name in extra)
    passed = "".join(f", {name}: ${name}" for name in extra)
    data = await api.data(
        f"mutation Op($id: ID!{declared}) {{ result: {mutation}({argument}: $id{passed}) {{ {selection} }} }}",
        {"id": id, **extra},
    )
    return data["result"]


async def complete_wait(api: Api, record_id: int | str, payload: Any = None) -> dict:
    id = record_id if isinstance(record_id, str) else gid("Record", record_id)
    data = await api.data(
        f"mutation Answer($id: ID!, $payload: JSON) {{ result: completeWait(recordId: $id, payload: $payload) {{ {RECORD_RESULT} }} }}",
        {"id": id, "payload": payload},
    )
    return data["result"]


def refusal(result: dict, typename: str, code: str, **details: Any) -> None:
    assert result["__typename"] == typename, result
    assert result["code"] == code
    assert result["message"]
    for name, value in details.items():
        assert result[name] == value, (name, result)


async def tenant_state(tenant: TenantApi) -> tuple:
    """What a refused start must leave as it was: the tenant's jobs and its usage."""
    jobs = tuple(await Job.filter(tenant_id=tenant.tenant.id).order_by("id").values_list("id", "status", "hidden"))
    usage = await plan_usage((await tenant.as_(Role.VIEWER)).actor)
    return jobs, usage


# ---------------------------------------------------------------- startJob


async def test_start_job_admits_a_pending_job_with_what_was_asked(acme_api: TenantApi):
    operator = await acme_api.as_(Role.ADMIN)

    result = await start_job(operator, name="contacts", params={"records": 7}, chunkSize=3, lowPriority=True)
    default = await start_job(operator, type="test.approval")

    assert result["__typename"] == "JobStarted"
    job = result["job"]
    assert {k: job[k] for k in ("name", "type", "status", "lowPriority", "chunkSize", "params", "parent", "runBy")} == {
        "name": "contacts",
        "type": "test.plain",
        "status": "PENDING",
        "lowPriority": True,
        "chunkSize": 3,
        "params": {"records": 7},
        "parent": None,
        "runBy": {"name": operator.principal.name},
    }
    assert (default["job"]["name"], default["job"]["chunkSize"], default["job"]["params"], default["job"]["lowPriority"]) == (
        "test.approval", 100, {}, False
    )
    listed = await operator.data("{ jobs { edges { node { id } } } }")
    assert {edge["node"]["id"] for edge in listed["jobs"]["edges"]} == {job["id"], default["job"]["id"]}
    assert (await plan_usage(operator.actor)).jobs_used == 2


async def test_a_job_just_started_has_waited_no_negative_time(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    old = await start(operator.actor)
    await put_in(old, JobStatus.FAILED, ended_at=utcnow())
    fields = "__typename ... on JobStarted { job { status createdAt waitingSeconds durationSeconds } }"

    started = await operator.data(f'mutation {{ result: startJob(input: {{type: "test.plain"}}) {{ {fields} }} }}')
    restarted = await operator.data(f"mutation R($id: ID!) {{ result: restartJob(id: $id) {{ {fields} }} }}", {"id": gid("Job", old.id)})

    for answer in (started, restarted):
        job = answer["result"]["job"]
        assert (job["status"], job["durationSeconds"]) == ("PENDING", None)
        assert job["waitingSeconds"] >= 0, job


async def test_start_job_reserves_the_records_of_the_job_in_the_usage(tenant_api):
    tenant = await tenant_api(records_per_month=3000)
    operator = await tenant.as_(Role.OPERATOR)
    usage = "{ usage { jobsUsed jobsLimit recordsUsed recordsReserved recordsLimit } }"

    first = await start_job(operator, params={"records": 2000})
    second = await start_job(operator, params={"records": 2000})

    assert first["__typename"] == "JobStarted"
    refusal(second, "PlanLimitError", "PLAN_LIMIT", resource="records", limit=3000, used=2000, requested=2000)
    assert (await operator.data(usage))["usage"] == {
        "jobsUsed": 1, "jobsLimit": None, "recordsUsed": 0, "recordsReserved": 2000, "recordsLimit": 3000
    }
    await operate(operator, "cancelJob", first["job"]["id"])
    assert (await operator.data(usage))["usage"]["recordsReserved"] == 0
    assert (await start_job(operator, params={"records": 2000}))["__typename"] == "JobStarted"


async def test_start_job_with_a_parent_starts_a_child(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    parent = await start(operator.actor, name="parent")

    result = await start_job(operator, name="child", parentId=gid("Job", parent.id))

    assert result["job"]["parent"] == {"id": gid("Job", parent.id)}
    children = await operator.data(
        "query K($id: ID!) { job(id: $id) { children { edges { node { name root { id } } } } } }", {"id": gid("Job", parent.id)}
    )
    assert children["job"]["children"]["edges"] == [{"node": {"name": "child", "root": {"id": gid("Job", parent.id)}}}]


async def test_the_same_idempotency_key_returns_the_same_job(tenant_api):
    tenant = await tenant_api(jobs_per_month=5)
    bot = await tenant.as_(Role.OPERATOR)

    first = await start_job(bot, name="sync", idempotencyKey="crm-sync-2026-11-22")
    again = await start_job(bot, name="sync", idempotencyKey="crm-sync-2026-11-22")
    other = await start_job(bot, name="sync", idempotencyKey="crm-sync-2026-11-23")

    assert again == first
    assert other["job"]["id"] != first["job"]["id"]
    assert (await plan_usage(bot.actor)).jobs_used == 2
    state = await tenant_state(tenant)
    reused = await start_job(bot, type="test.approval", idempotencyKey="crm-sync-2026-11-22")
    refusal(reused, "InvalidInputError", "INVALID_INPUT", field="idempotencyKey")
    assert await tenant_state(tenant) == state


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"chunkSize": 0}, "chunkSize"),
        ({"chunkSize": 10_000_000}, "chunkSize"),
        ({"params": {"records": -1}}, "params.records"),
        ({"params": {"unknown": True}}, "params"),
        ({"params": "seven"}, "params"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"idempotencyKey": "k" * 201}, "idempotencyKey"),
    ],
    ids=["chunk-0", "chunk-huge", "params-value", "params-extra", "params-not-object", "blank-name", "long-name", "long-key"],
)
async def test_start_job_refuses_bad_input_naming_the_field_and_creates_nothing(acme_api: TenantApi, input, field):
    operator = await acme_api.as_(Role.OPERATOR)
    state = await tenant_state(acme_api)

    result = await start_job(operator, **input)

    refusal(result, "InvalidInputError", "INVALID_INPUT", field=field)
    assert result["message"].startswith(f"{field}: ")
    assert await tenant_state(acme_api) == state


async def test_start_job_refuses_an_unknown_type(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    state = await tenant_state(acme_api)

    result = await start_job(operator, type="crm.sync.v9")

    refusal(result, "UnknownJobTypeError", "UNKNOWN_JOB_TYPE", jobType="crm.sync.v9")
    assert await tenant_state(acme_api) == state


async def test_start_job_past_the_monthly_job_limit_is_refused_with_the_numbers(tenant_api):
    tenant = await tenant_api(jobs_per_month=1)
    operator = await tenant.as_(Role.OPERATOR)
    assert (await start_job(operator))["__typename"] == "JobStarted"
    state = await tenant_state(tenant)

    result = await start_job(operator)

    refusal(result, "PlanLimitError", "PLAN_LIMIT", resource="jobs", limit=1, used=1, requested=1)
    assert await tenant_state(tenant) == state


async def test_start_job_past_the_monthly_record_limit_is_refused_with_the_numbers(tenant_api):
    tenant = await tenant_api(records_per_month=5)
    operator = await tenant.as_(Role.OPERATOR)
    state = await tenant_state(tenant)

    result = await start_job(operator, params={"records": 10})

    refusal(result, "PlanLimitError", "PLAN_LIMIT", resource="records", limit=5, used=0, requested=10)
    assert await tenant_state(tenant) == state
    assert (await start_job(operator, params={"records": 5}))["__typename"] == "JobStarted"


async def test_start_job_needs_an_operator_and_system_types_and_low_priority_an_admin(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    operator = await acme_api.as_(Role.OPERATOR)
    admin = await acme_api.as_(Role.ADMIN)
    state = await tenant_state(acme_api)

    refusal(await start_job(viewer), "ForbiddenError", "FORBIDDEN", neededRole="OPERATOR")
    refusal(await start_job(operator, type="test.system"), "ForbiddenError", "FORBIDDEN", neededRole="ADMIN")
    refusal(await start_job(operator, lowPriority=True), "ForbiddenError", "FORBIDDEN", neededRole="ADMIN")
    assert await tenant_state(acme_api) == state
    assert (await start_job(admin, type="test.system"))["job"]["type"] == "test.system"


async def test_start_job_under_a_missing_or_finished_parent_is_refused(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    finished = await start(operator.actor)
    await put_in(finished, JobStatus.FINISHED, outcome=JobOutcome.SUCCEEDED, ended_at=utcnow())
    state = await tenant_state(acme_api)

    missing = await start_job(operator, parentId=gid("Job", MISSING_ID))
    malformed = await start_job(operator, parentId="garbage")
    over = await start_job(operator, parentId=gid("Job", finished.id))

    refusal(missing, "NotFoundError", "NOT_FOUND")
    refusal(malformed, "NotFoundError", "NOT_FOUND")
    refusal(over, "InvalidTransitionError", "INVALID_TRANSITION", status="FINISHED", operation="START_CHILD")
    assert await tenant_state(acme_api) == state


# ---------------------------------------------------------------- steering


async def test_stop_resume_and_cancel_move_a_job_through_its_lifecycle(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor, params={"records": 4})
    await add_chunk(job, 0, ChunkStatus.PENDING, [RecordStatus.PENDING] * 2)

    stopped = await operate(operator, "stopJob", job.id)
    resumed = await operate(operator, "resumeJob", job.id)
    canceled = await operate(operator, "cancelJob", job.id)

    assert [r["__typename"] for r in (stopped, resumed, canceled)] == ["JobOperationSuccess"] * 3
    assert [r["job"]["status"] for r in (stopped, resumed, canceled)] == ["STOPPED", "PENDING", "CANCELED"]
    assert {r.status for r in await Record.filter(job_id=job.id)} == {RecordStatus.CANCELED}


async def test_stopping_a_running_job_drains_it_and_force_stop_interrupts(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor)
    await put_in(job, JobStatus.RUNNING)
    await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.SUCCEEDED, RecordStatus.PENDING], lease_owner="w1")

    stopping = await operate(operator, "stopJob", job.id)
    forced = await operate(operator, "forceStopJob", job.id)

    assert (stopping["job"]["status"], forced["job"]["status"]) == ("STOPPING", "STOPPED")
    # The chunk stops at once; its worker, still holding it, writes what it cut off.
    assert await Chunk.filter(job_id=job.id).values_list("status", "lease_owner") == [(ChunkStatus.STOPPED, "w1")]
    warning = await JobLog.get(job_id=job.id, level="WARNING")
    assert "data may be inconsistent" in warning.message


async def test_cancel_of_a_running_job_cancels_after_draining(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor)
    await put_in(job, JobStatus.RUNNING)

    assert (await operate(operator, "cancelJob", job.id))["job"]["status"] == "CANCELING"


@pytest.mark.parametrize(
    ("mutation", "status", "operation"),
    [
        ("stopJob", JobStatus.FINISHED, "STOP"),
        ("resumeJob", JobStatus.RUNNING, "RESUME"),
        ("forceStopJob", JobStatus.RUNNING, "FORCE_STOP"),
        ("cancelJob", JobStatus.FAILED, "CANCEL"),
        ("restartJob", JobStatus.RUNNING, "RESTART"),
        ("retryFailedRecords", JobStatus.PENDING, "RETRY_FAILED"),
    ],
)
async def test_a_move_the_status_does_not_allow_is_an_invalid_transition_and_changes_nothing(
    acme_api: TenantApi, mutation: str, status: JobStatus, operation: str
):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor)
    await put_in(job, status)
    before = await snapshot(job.id)
    state = await tenant_state(acme_api)

    result = await operate(operator, mutation, job.id)

    refusal(result, "InvalidTransitionError", "INVALID_TRANSITION", status=status.value, operation=operation)
    assert await snapshot(job.id) == before
    assert await tenant_state(acme_api) == state


@pytest.mark.parametrize("mutation", ["stopJob", "forceStopJob", "cancelJob"])
async def test_a_system_job_that_cannot_be_stopped_says_so(acme_api: TenantApi, mutation: str):
    admin = await acme_api.as_(Role.ADMIN)
    job = await start(admin.actor, type="test.system")
    await put_in(job, JobStatus.STOPPING if mutation == "forceStopJob" else JobStatus.RUNNING)
    before = await snapshot(job.id)

    result = await operate(admin, mutation, job.id)

    refusal(result, "NotStoppableError", "NOT_STOPPABLE", jobType="test.system")
    assert await snapshot(job.id) == before


@pytest.mark.parametrize(
    ("mutation", "role", "extra"),
    [
        ("stopJob", Role.VIEWER, {}),
        ("resumeJob", Role.VIEWER, {}),
        ("forceStopJob", Role.VIEWER, {}),
        ("cancelJob", Role.VIEWER, {}),
        ("hideJob", Role.VIEWER, {}),
        ("restartJob", Role.VIEWER, {}),
        ("retryFailedRecords", Role.VIEWER, {}),
        ("setJobLowPriority", Role.OPERATOR, {"lowPriority": True}),
    ],
)
async def test_a_role_below_the_one_needed_is_forbidden_and_changes_nothing(
    acme_api: TenantApi, mutation: str, role: Role, extra: dict
):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor)
    before = await snapshot(job.id)
    state = await tenant_state(acme_api)

    result = await operate(await acme_api.as_(role), mutation, job.id, **extra)

    needed = "ADMIN" if role is Role.OPERATOR else "OPERATOR"
    refusal(result, "ForbiddenError", "FORBIDDEN", neededRole=needed)
    assert f"needs the {needed} role" in result["message"]
    assert await snapshot(job.id) == before
    assert await tenant_state(acme_api) == state


@pytest.mark.parametrize(
    "mutation", ["stopJob", "resumeJob", "forceStopJob", "cancelJob", "hideJob", "restartJob", "retryFailedRecords", "setJobLowPriority"]
)
async def test_a_job_id_that_names_nothing_is_not_found(acme_api: TenantApi, mutation: str):
    admin = await acme_api.as_(Role.ADMIN)
    extra = {"lowPriority": True} if mutation == "setJobLowPriority" else {}

    for id in (gid("Job", MISSING_ID), "garbage", gid("Record", 1)):
        refusal(await operate(admin, mutation, id, **extra), "NotFoundError", "NOT_FOUND")


# ---------------------------------------------------------------- restart and retry


async def test_restart_starts_a_new_job_linked_to_the_old_one(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    old = await start(operator.actor, name="report", params={"records": 3})
    await put_in(old, JobStatus.FAILED, ended_at=utcnow())
    before = await snapshot(old.id)

    result = await operate(operator, "restartJob", old.id)

    assert result["__typename"] == "JobStarted"
    assert {k: result["job"][k] for k in ("name", "status", "params", "restartedFrom")} == {
        "name": "report", "status": "PENDING", "params": {"records": 3}, "restartedFrom": {"id": gid("Job", old.id)}
    }
    after = await snapshot(old.id)
    assert (after.job, after.events, after.chunks, after.records, after.logs) == (
        before.job, before.events, before.chunks, before.records, before.logs
    )  # its history is kept


async def test_restart_and_retry_refuse_a_type_that_cannot_be_restarted(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor, type="test.non_restartable")
    await put_in(job, JobStatus.FINISHED, outcome=JobOutcome.WITH_ERRORS, ended_at=utcnow())
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.FAILED])
    state = await tenant_state(acme_api)

    for mutation in ("restartJob", "retryFailedRecords"):
        refusal(await operate(operator, mutation, job.id), "NotRestartableError", "NOT_RESTARTABLE", jobType="test.non_restartable")
    assert await tenant_state(acme_api) == state


async def test_restart_past_the_monthly_job_limit_is_refused(tenant_api):
    tenant = await tenant_api(jobs_per_month=1)
    operator = await tenant.as_(Role.OPERATOR)
    old = await start(operator.actor)
    await put_in(old, JobStatus.CANCELED, ended_at=utcnow())
    state = await tenant_state(tenant)

    result = await operate(operator, "restartJob", old.id)

    refusal(result, "PlanLimitError", "PLAN_LIMIT", resource="jobs", limit=1, used=1, requested=1)
    assert await tenant_state(tenant) == state


async def test_retry_failed_records_runs_only_the_failed_ones_again(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    old = await start(operator.actor, params={"records": 3})
    await put_in(old, JobStatus.FINISHED, outcome=JobOutcome.WITH_ERRORS, ended_at=utcnow())
    await add_chunk(old, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED, RecordStatus.FAILED, RecordStatus.FAILED])
    clean = await start(operator.actor)
    await put_in(clean, JobStatus.FINISHED, outcome=JobOutcome.SUCCEEDED, ended_at=utcnow())
    await add_chunk(clean, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED])
    before = await snapshot(clean.id)

    nothing_failed = await operate(operator, "retryFailedRecords", clean.id)
    after_refusal = await snapshot(clean.id)
    retry = await operate(operator, "retryFailedRecords", old.id)

    assert retry["__typename"] == "JobStarted"
    assert (retry["job"]["restartedFrom"], retry["job"]["status"]) == ({"id": gid("Job", old.id)}, "PENDING")
    assert (await Job.get(id=pk_of(retry["job"]["id"]))).retry_failed is True
    refusal(nothing_failed, "InvalidTransitionError", "INVALID_TRANSITION", status="FINISHED", operation="RETRY_FAILED")
    assert "no failed records" in nothing_failed["message"]
    assert after_refusal == before


async def test_a_retry_shows_how_many_failed_records_of_which_job_it_runs(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    old = await start(operator.actor, name="spring sale", params={"records": 500})
    await put_in(old, JobStatus.FINISHED, outcome=JobOutcome.WITH_ERRORS, ended_at=utcnow())
    await add_chunk(old, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED] * 4 + [RecordStatus.FAILED] * 3)

    answer = await operator.data(
        "mutation R($id: ID!) { retryFailedRecords(jobId: $id) { ... on JobStarted { job {"
        " name params restartedFrom { id name } progress { total done estimated } } } } }",
        {"id": gid("Job", old.id)},
    )

    assert answer["retryFailedRecords"]["job"] == {
        "name": "spring sale (retry of 3 failed records)",
        "params": {"records": 500},  # the steps run with the params the records failed with
        "restartedFrom": {"id": gid("Job", old.id), "name": "spring sale"},
        "progress": {"total": 3, "done": 0, "estimated": False},
    }


def pk_of(global_id: str) -> int:
    parsed = parse_global_id(global_id)
    assert parsed is not None
    return parsed[1]


# ---------------------------------------------------------------- priority and hiding


async def test_an_admin_sets_low_priority_and_back(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    job = await start(admin.actor)

    low = await operate(admin, "setJobLowPriority", job.id, lowPriority=True)
    normal = await operate(admin, "setJobLowPriority", job.id, lowPriority=False)

    assert (low["job"]["lowPriority"], normal["job"]["lowPriority"]) == (True, False)
    assert (low["job"]["status"], normal["job"]["status"]) == ("PENDING", "PENDING")


@pytest.mark.parametrize("status", [JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED])
async def test_the_priority_of_an_ended_job_is_refused_not_pretended(acme_api: TenantApi, status: JobStatus):
    admin = await acme_api.as_(Role.ADMIN)
    job = await put_in(await start(admin.actor), status, ended_at=utcnow())
    before = await snapshot(job.id)

    result = await operate(admin, "setJobLowPriority", job.id, lowPriority=True)

    refusal(result, "InvalidTransitionError", "INVALID_TRANSITION", status=status.value, operation="SET_LOW_PRIORITY")
    assert await snapshot(job.id) == before


async def test_hide_job_takes_it_off_the_list_and_never_cancels_it(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor)
    await put_in(job, JobStatus.RUNNING)

    result = await operate(operator, "hideJob", job.id)

    assert (result["job"]["hidden"], result["job"]["status"]) == (True, "RUNNING")
    assert (await operator.data("{ jobs { totalCount } }"))["jobs"]["totalCount"] == 0
    assert (await operator.data("{ jobs(filter: {includeHidden: true}) { totalCount } }"))["jobs"]["totalCount"] == 1


async def test_unhide_job_brings_a_hidden_job_back_for_admins_only(acme_api: TenantApi):
    operator, admin = await acme_api.as_(Role.OPERATOR), await acme_api.as_(Role.ADMIN)
    job = await start(operator.actor)
    await operate(operator, "hideJob", job.id)
    hidden = await snapshot(job.id)

    refused = await operate(operator, "unhideJob", job.id)
    refusal(refused, "ForbiddenError", "FORBIDDEN", neededRole="ADMIN")
    assert await snapshot(job.id) == hidden
    result = await operate(admin, "unhideJob", job.id)

    assert (result["job"]["hidden"], result["job"]["status"]) == (False, "PENDING")
    assert (await operator.data("{ jobs { totalCount } }"))["jobs"]["totalCount"] == 1
    again = await operate(admin, "unhideJob", job.id)
    refusal(again, "InvalidTransitionError", "INVALID_TRANSITION", status="PENDING", operation="UNHIDE")


# ---------------------------------------------------------------- completeWait


async def test_complete_wait_continues_a_waiting_record_with_the_answer(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor, type="test.approval")
    await put_in(job, JobStatus.WAITING)
    await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING, RecordStatus.SUCCEEDED])
    waiting, done = await Record.filter(job_id=job.id).order_by("position")
    await Record.filter(id=waiting.id).update(
        started_at=utcnow(), journey=[entry(0, StepStatus.SUCCEEDED, 0, 1_000), entry(1, StepStatus.WAITING, 2_000)]
    )

    answered = await complete_wait(operator, waiting.id, {"by": "ana"})
    again = await complete_wait(operator, waiting.id, {"by": "bob"})
    not_waiting = await complete_wait(operator, done.id)

    assert answered == {
        "__typename": "RecordOperationSuccess",
        "record": {
            "id": gid("Record", waiting.id),
            "key": "r0",
            "status": "PENDING",
            "journey": [{"name": "prepare", "status": "SUCCEEDED"}, {"name": "approve", "status": "WAITING"}],
        },
    }
    await waiting.refresh_from_db()
    assert waiting.wait_payload == {"by": "ana"}
    assert (await Job.get(id=job.id)).status is JobStatus.RUNNING
    refusal(again, "InvalidTransitionError", "INVALID_TRANSITION", status="PENDING", operation="COMPLETE_WAIT")
    refusal(not_waiting, "InvalidTransitionError", "INVALID_TRANSITION", status="SUCCEEDED", operation="COMPLETE_WAIT")
    await waiting.refresh_from_db()
    assert waiting.wait_payload == {"by": "ana"}


async def test_complete_wait_takes_only_the_answer_the_waiting_step_declares(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor, type="campaign_run")
    await put_in(job, JobStatus.WAITING)
    await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    record = await Record.get(job_id=job.id)
    await Record.filter(id=record.id).update(
        started_at=utcnow(),
        journey=[entry(0, StepStatus.SUCCEEDED, 0, 10), entry(1, StepStatus.SUCCEEDED, 20, 10), entry(2, StepStatus.WAITING, 40, 5)],
    )
    before = await snapshot(job.id)
    types = await operator.data("{ jobTypes { name steps { name mayWait answerSchema } } }")

    refused = [await complete_wait(operator, record.id, payload) for payload in ({"foo": 1}, {"approved": True}, None)]
    unchanged = await snapshot(job.id)
    answered = await complete_wait(operator, record.id, {"approved": True, "by": "maria"})

    [campaign] = [t for t in types["jobTypes"] if t["name"] == "campaign_run"]
    assert [step for step in campaign["steps"] if step["answerSchema"]] == [
        {"name": "approve", "mayWait": True, "answerSchema": APPROVAL_ANSWER}
    ]
    for result, field in zip(refused, ("payload.approved", "payload.by", "payload")):
        refusal(result, "InvalidInputError", "INVALID_INPUT", field=field)
    assert unchanged == before
    assert answered["record"]["status"] == "PENDING"


async def test_complete_wait_needs_an_operator_and_an_existing_record(acme_api: TenantApi):
    operator = await acme_api.as_(Role.OPERATOR)
    job = await start(operator.actor, type="test.approval")
    await put_in(job, JobStatus.WAITING)
    await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    record = await Record.get(job_id=job.id)
    before = await snapshot(job.id)

    forbidden = await complete_wait(await acme_api.as_(Role.VIEWER), record.id, {"by": "eve"})
    missing = [await complete_wait(operator, id) for id in (gid("Record", MISSING_ID), "garbage", gid("Job", job.id))]

    refusal(forbidden, "ForbiddenError", "FORBIDDEN", neededRole="OPERATOR")
    for result in missing:
        refusal(result, "NotFoundError", "NOT_FOUND")
    assert await snapshot(job.id) == before


# ---------------------------------------------------------------- runScheduleNow


async def run_now(api: Api, schedule_id: int | str) -> dict:
    return await operate(api, "runScheduleNow", schedule_id if isinstance(schedule_id, str) else gid("Schedule", schedule_id))


async def test_an_admin_runs_a_schedule_now(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    schedule = await create_schedule(admin.actor, "nightly sync", "test.plain", "0 3 * * *", {"records": 2})

    result = await run_now(admin, schedule.id)

    assert result["__typename"] == "JobStarted"
    assert {k: result["job"][k] for k in ("name", "type", "status", "params")} == {
        "name": "nightly sync", "type": "test.plain", "status": "PENDING", "params": {"records": 2}
    }
    shown = await admin.data("{ schedules { nextRunAt lastRuns { job { id } } } }")
    assert shown["schedules"][0]["lastRuns"] == [{"job": {"id": result["job"]["id"]}}]
    assert shown["schedules"][0]["nextRunAt"] == (await Schedule.get(id=schedule.id)).next_run_at.isoformat()


async def test_run_schedule_now_refusals_are_typed_and_start_nothing(tenant_api):
    tenant = await tenant_api(jobs_per_month=1)
    admin = await tenant.as_(Role.ADMIN)
    schedule = await create_schedule(admin.actor, "sync", "test.plain", "0 3 * * *")
    type_gone = await create_schedule(admin.actor, "old", "test.plain", "0 3 * * *")
    await Schedule.filter(id=type_gone.id).update(type="crm.sync.v1")
    params_stale = await create_schedule(admin.actor, "stale", "test.plain", "0 3 * * *")
    await Schedule.filter(id=params_stale.id).update(params={"records": -5})
    state = await tenant_state(tenant)

    refusal(await run_now(await tenant.as_(Role.OPERATOR), schedule.id), "ForbiddenError", "FORBIDDEN", neededRole="ADMIN")
    refusal(await run_now(admin, MISSING_ID), "NotFoundError", "NOT_FOUND")
    refusal(await run_now(admin, "garbage"), "NotFoundError", "NOT_FOUND")
    refusal(await run_now(admin, type_gone.id), "UnknownJobTypeError", "UNKNOWN_JOB_TYPE", jobType="crm.sync.v1")
    refusal(await run_now(admin, params_stale.id), "InvalidInputError", "INVALID_INPUT", field="params.records")
    assert await tenant_state(tenant) == state
    assert (await Schedule.get(id=schedule.id)).last_run_at is None

    assert (await run_now(admin, schedule.id))["__typename"] == "JobStarted"
    state = await tenant_state(tenant)
    refusal(await run_now(admin, schedule.id), "PlanLimitError", "PLAN_LIMIT", resource="jobs", limit=1, used=1, requested=1)
    assert await tenant_state(tenant) == state
