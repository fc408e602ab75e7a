"""Managing schedules over HTTP: what admins may change, what everyone else is refused, what
another tenant sees (nothing), and the next run in UTC and on the schedule's own clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.access import Role
from domain.clock import utcnow
from domain.models import Job, Schedule
from domain.schedules import start_due_schedules
from gql.ids import parse_global_id
from tests.domain.scenarios import MISSING_ID
from tests.domain.test_schedules import no_schedule_outlives_its_test  # noqa: F401  (autouse)
from tests.gql.support import Api, TenantApi, counting_statements, gid, substitute

BERLIN = ZoneInfo("Europe/Berlin")

SCHEDULE = "id name type cron timezone params enabled nextRunAt nextRunAtLocal cronDescription lastRunAt"
RESULT = f"""
  __typename
  ... on ScheduleOperationSuccess {{ schedule {{ {SCHEDULE} }} }}
  ... on Error {{ code message }}
  ... on InvalidInputError {{ field }}
  ... on UnknownJobTypeError {{ jobType }}
  ... on ForbiddenError {{ neededRole }}
"""
CREATE = f"mutation C($input: CreateScheduleInput!) {{ result: createSchedule(input: $input) {{ {RESULT} }} }}"
UPDATE = f"mutation U($id: ID!, $input: UpdateScheduleInput!) {{ result: updateSchedule(id: $id, input: $input) {{ {RESULT} }} }}"
SET_ENABLED = f"mutation E($id: ID!, $enabled: Boolean!) {{ result: setScheduleEnabled(id: $id, enabled: $enabled) {{ {RESULT} }} }}"
DELETE = """mutation D($id: ID!) { result: deleteSchedule(id: $id) {
  __typename ... on ScheduleDeleted { id } ... on Error { code message } ... on ForbiddenError { neededRole } } }"""
RUN_NOW = "mutation R($id: ID!) { result: runScheduleNow(id: $id) { __typename ... on JobStarted { job { id } } ... on Error { code message } } }"
SCHEDULES = f"""{{ schedules {{ {SCHEDULE}
  lastRuns(first: 5) {{ startedBy {{ kind name }} job {{ id name status outcome createdAt logs {{ totalCount }} }} }} }} }}"""
NODE = f"query N($id: ID!) {{ node(id: $id) {{ ... on Schedule {{ {SCHEDULE} }} }} }}"

DIGEST = {"name": "Weekday digest", "type": "test.plain", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin", "params": {"records": 2}}


async def create(api: Api, **input: Any) -> dict:
    return (await api.data(CREATE, {"input": {**DIGEST, **input}}))["result"]


async def created(api: Api, **input: Any) -> dict:
    result = await create(api, **input)
    assert result["__typename"] == "ScheduleOperationSuccess", result
    return result["schedule"]


async def update(api: Api, id: str, **input: Any) -> dict:
    return (await api.data(UPDATE, {"id": id, "input": input}))["result"]


async def set_enabled(api: Api, id: str, enabled: bool) -> dict:
    return (await api.data(SET_ENABLED, {"id": id, "enabled": enabled}))["result"]


async def delete(api: Api, id: str) -> dict:
    return (await api.data(DELETE, {"id": id}))["result"]


async def listed(api: Api) -> dict[str, dict]:
    return {schedule["id"]: schedule for schedule in (await api.data(SCHEDULES))["schedules"]}


async def rows_of(tenant: TenantApi) -> list[tuple]:
    return await Schedule.filter(tenant_id=tenant.tenant.id).order_by("id").values_list(
        "name", "type", "cron", "timezone", "params", "enabled", "next_run_at", "last_run_at"
    )


def refused(result: dict, typename: str, code: str, **details: Any) -> None:
    assert (result["__typename"], result["code"]) == (typename, code), result
    assert result["message"]
    for name, value in details.items():
        assert result[name] == value, (name, result)


def pk_of(global_id: str) -> int:
    parsed = parse_global_id(global_id)
    assert parsed is not None
    return parsed[1]


def local(value: str) -> datetime:
    return datetime.fromisoformat(value)


def next_local(month: int, day: int, hour: int, zone: ZoneInfo) -> datetime:
    """The next ``month``-``day`` at ``hour`` o'clock on ``zone``'s wall clock, found without cron."""
    now = utcnow()
    for year in (now.year, now.year + 1):
        moment = datetime(year, month, day, hour, tzinfo=zone)
        if moment > now:
            return moment
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- the round trip


async def test_an_admin_creates_changes_disables_runs_and_deletes_a_schedule(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    viewer = await acme_api.as_(Role.VIEWER)
    before = utcnow()

    made = await created(admin, **DIGEST)

    assert {k: made[k] for k in ("name", "type", "cron", "timezone", "params", "enabled", "lastRunAt")} == {
        **DIGEST, "enabled": True, "lastRunAt": None
    }
    assert made["cronDescription"] == "At 09:00, Monday through Friday"
    next_run, next_run_local = local(made["nextRunAt"]), local(made["nextRunAtLocal"])
    assert next_run.utcoffset() == timedelta(0) and next_run == next_run_local
    assert next_run_local.utcoffset() == next_run.astimezone(BERLIN).utcoffset()
    assert (next_run_local.hour, next_run_local.minute) == (9, 0) and next_run_local.isoweekday() <= 5
    assert before < next_run <= before + timedelta(days=4)
    # Anyone of the tenant reads it, in the list and by id.
    assert (await listed(viewer))[made["id"]] == {**made, "lastRuns": []}
    assert (await viewer.data(NODE, {"id": made["id"]}))["node"] == made

    changed = (await update(admin, made["id"], name="Morning digest", cron="30 7 * * *", timezone="America/New_York"))["schedule"]

    assert {k: changed[k] for k in ("id", "name", "type", "cron", "timezone", "params", "enabled")} == {
        "id": made["id"], "name": "Morning digest", "type": "test.plain", "cron": "30 7 * * *",
        "timezone": "America/New_York", "params": {"records": 2}, "enabled": True,
    }
    new_york = local(changed["nextRunAtLocal"])
    assert (new_york.hour, new_york.minute) == (7, 30) and new_york == local(changed["nextRunAt"])
    assert new_york.utcoffset() == new_york.astimezone(ZoneInfo("America/New_York")).utcoffset()
    assert changed["cronDescription"] == "At 07:30"
    # A change of params alone leaves the timetable alone.
    repriced = (await update(admin, made["id"], params={"records": 5}))["schedule"]
    assert (repriced["params"], repriced["nextRunAt"]) == ({"records": 5}, changed["nextRunAt"])

    disabled = (await set_enabled(admin, made["id"], False))["schedule"]
    assert (disabled["enabled"], disabled["nextRunAt"], disabled["nextRunAtLocal"]) == (False, None, None)
    enabled = (await set_enabled(admin, made["id"], True))["schedule"]
    assert (enabled["enabled"], enabled["nextRunAt"]) == (True, changed["nextRunAt"])

    run = (await admin.data(RUN_NOW, {"id": made["id"]}))["result"]
    shown = (await listed(viewer))[made["id"]]
    assert shown["lastRuns"] == [{
        "startedBy": {"kind": "USER", "name": admin.principal.name},
        "job": {
            "id": run["job"]["id"], "name": "Morning digest", "status": "PENDING", "outcome": None,
            "createdAt": shown["lastRuns"][0]["job"]["createdAt"], "logs": {"totalCount": 0},
        },
    }]
    assert local(shown["lastRuns"][0]["job"]["createdAt"]) >= before
    assert local(shown["lastRunAt"]) >= before

    assert await delete(admin, made["id"]) == {"__typename": "ScheduleDeleted", "id": made["id"]}

    assert await listed(viewer) == {}
    assert (await viewer.data(NODE, {"id": made["id"]}))["node"] is None
    refused(await delete(admin, made["id"]), "NotFoundError", "NOT_FOUND")
    # Its run stays, no longer linked to a schedule.
    kept = await Job.get(id=pk_of(run["job"]["id"]))
    assert (kept.name, kept.schedule_id) == ("Morning digest", None)
    assert (await viewer.data("query J($id: ID!) { job(id: $id) { name } }", {"id": run["job"]["id"]}))["job"] == {
        "name": "Morning digest"
    }


async def test_runs_started_on_time_name_the_scheduler_and_disabled_schedules_are_not_started(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    on_time = await created(admin, name="on time")
    paused = await created(admin, name="paused")
    await Schedule.filter(tenant_id=acme_api.tenant.id).update(next_run_at=utcnow() - timedelta(minutes=1))
    assert (await set_enabled(admin, paused["id"], False))["schedule"]["nextRunAt"] is None

    started = [job for job in await start_due_schedules() if job.tenant_id == acme_api.tenant.id]

    assert [job.name for job in started] == ["on time"]
    runs = {s["name"]: s["lastRuns"] for s in (await listed(admin)).values()}
    assert runs["paused"] == []
    assert [(r["startedBy"], r["job"]["id"]) for r in runs["on time"]] == [
        ({"kind": "SYSTEM", "name": "scheduler"}, gid("Job", started[0].id))
    ]
    # Enabled again, it runs next at its cron time, not at once for the run it missed.
    again = (await set_enabled(admin, paused["id"], True))["schedule"]
    assert local(again["nextRunAt"]) > utcnow()
    assert [job for job in await start_due_schedules() if job.tenant_id == acme_api.tenant.id] == []
    assert (await listed(admin))[on_time["id"]]["lastRuns"] == runs["on time"]


async def test_the_schedules_list_costs_the_same_statements_for_one_schedule_or_many(tenant_api):
    async def statements(schedules: int) -> int:
        tenant = await tenant_api()
        admin = await tenant.as_(Role.ADMIN)
        for number in range(schedules):
            made = await created(admin, name=f"schedule {number}")
            await admin.data(RUN_NOW, {"id": made["id"]})
            await admin.data(RUN_NOW, {"id": made["id"]})
        await Schedule.filter(tenant_id=tenant.tenant.id).update(next_run_at=utcnow() - timedelta(minutes=1))
        await start_due_schedules()
        viewer = await tenant.as_(Role.VIEWER)
        with counting_statements() as counter:
            shown = await listed(viewer)
        assert [len(schedule["lastRuns"]) for schedule in shown.values()] == [3] * schedules
        return len(counter.statements)

    assert await statements(1) == await statements(6)


# ---------------------------------------------------------------- refusals


CODES = {"InvalidInputError": "INVALID_INPUT", "UnknownJobTypeError": "UNKNOWN_JOB_TYPE"}
BAD_INPUT = [
    pytest.param({"cron": "every day"}, "InvalidInputError", {"field": "cron"}, id="cron-words"),
    pytest.param({"cron": "61 * * * *"}, "InvalidInputError", {"field": "cron"}, id="cron-out-of-range"),
    pytest.param({"cron": "* * * * * *"}, "InvalidInputError", {"field": "cron"}, id="cron-seconds"),
    pytest.param({"cron": "0 0 31 2 *"}, "InvalidInputError", {"field": "cron"}, id="cron-never-due"),
    pytest.param({"timezone": "Mars/Olympus_Mons"}, "InvalidInputError", {"field": "timezone"}, id="zone-unknown"),
    pytest.param({"timezone": "../../../etc/passwd"}, "InvalidInputError", {"field": "timezone"}, id="zone-path"),
    pytest.param({"timezone": "+02:00"}, "InvalidInputError", {"field": "timezone"}, id="zone-offset"),
    pytest.param({"type": "crm.sync.v1"}, "UnknownJobTypeError", {"jobType": "crm.sync.v1"}, id="type-unknown"),
    pytest.param({"params": {"records": -1}}, "InvalidInputError", {"field": "params.records"}, id="params-bound"),
    pytest.param({"params": {"colour": "red"}}, "InvalidInputError", {"field": "params"}, id="params-unknown"),
    pytest.param({"params": [1, 2]}, "InvalidInputError", {"field": "params"}, id="params-not-object"),
    pytest.param({"params": {"rec\x00ords": 1}}, "InvalidInputError", {"field": "params"}, id="params-nul"),
    pytest.param({"name": "   "}, "InvalidInputError", {"field": "name"}, id="name-blank"),
    pytest.param({"name": "n" * 201}, "InvalidInputError", {"field": "name"}, id="name-long"),
    pytest.param({"name": "night\x00ly"}, "InvalidInputError", {"field": "name"}, id="name-nul"),
]


@pytest.mark.parametrize(("bad", "typename", "details"), BAD_INPUT)
async def test_bad_input_is_refused_typed_and_creates_nothing(acme_api: TenantApi, bad, typename, details):
    admin = await acme_api.as_(Role.ADMIN)

    refused(await create(admin, **bad), typename, CODES[typename], **details)

    assert await rows_of(acme_api) == []


@pytest.mark.parametrize(("bad", "typename", "details"), BAD_INPUT)
async def test_bad_input_is_refused_typed_and_changes_nothing(acme_api: TenantApi, bad, typename, details):
    admin = await acme_api.as_(Role.ADMIN)
    made = await created(admin)
    before = await rows_of(acme_api)

    # Beside a valid change, which is not made either.
    refused(await update(admin, made["id"], enabled=False, **bad), typename, CODES[typename], **details)

    assert await rows_of(acme_api) == before
    assert (await listed(admin))[made["id"]] == {**made, "lastRuns": []}


async def test_a_new_type_must_accept_the_params_the_schedule_keeps(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    made = await created(admin, type="test.plain", params={"records": 2})
    # Params its type accepted once, before the type's schema changed.
    await Schedule.filter(tenant_id=acme_api.tenant.id).update(params={"records": -2})
    before = await rows_of(acme_api)

    refused(await update(admin, made["id"], type="test.counted"), "InvalidInputError", "INVALID_INPUT", field="params.records")
    assert await rows_of(acme_api) == before

    moved = (await update(admin, made["id"], type="test.counted", params={"records": 3}))["schedule"]
    assert (moved["type"], moved["params"]) == ("test.counted", {"records": 3})


async def test_a_name_taken_by_another_schedule_is_refused(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    await created(admin, name="nightly")
    other = await created(admin, name="hourly")
    before = await rows_of(acme_api)

    refused(await create(admin, name="nightly"), "InvalidInputError", "INVALID_INPUT", field="name")
    refused(await update(admin, other["id"], name="nightly"), "InvalidInputError", "INVALID_INPUT", field="name")

    assert await rows_of(acme_api) == before


async def test_a_schedule_whose_job_type_is_gone_can_still_be_disabled_and_deleted(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    made = await created(admin)
    await Schedule.filter(tenant_id=acme_api.tenant.id).update(type="crm.sync.v1")

    assert (await set_enabled(admin, made["id"], False))["schedule"]["enabled"] is False
    refused(await update(admin, made["id"], params={}), "UnknownJobTypeError", "UNKNOWN_JOB_TYPE", jobType="crm.sync.v1")
    assert (await delete(admin, made["id"]))["__typename"] == "ScheduleDeleted"
    assert await rows_of(acme_api) == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_only_admins_manage_schedules(acme_api: TenantApi, role: Role):
    admin = await acme_api.as_(Role.ADMIN)
    api = await acme_api.as_(role)
    made = await created(admin)
    before = await rows_of(acme_api)

    for result in [
        await create(api, name="mine"),
        await update(api, made["id"], cron="0 4 * * *"),
        await set_enabled(api, made["id"], False),
        await delete(api, made["id"]),
    ]:
        refused(result, "ForbiddenError", "FORBIDDEN", neededRole="ADMIN")

    assert await rows_of(acme_api) == before
    assert list(await listed(api)) == [made["id"]]


async def test_another_tenants_schedule_answers_like_one_that_does_not_exist(tenant_api):
    owner = await tenant_api()
    theirs = await created(await owner.as_(Role.ADMIN))
    before = await rows_of(owner)
    admin = await (await tenant_api()).as_(Role.ADMIN)
    missing = gid("Schedule", MISSING_ID)

    async def answer(document: str, id: str, extra: dict) -> dict:
        body = await admin.execute(document, {"id": id, **extra})
        return substitute(body, {id: "<ID>", str(pk_of(id)): "<PK>"})

    for document, extra in [
        (UPDATE, {"input": {"enabled": False}}),
        (SET_ENABLED, {"enabled": False}),
        (DELETE, {}),
        (RUN_NOW, {}),
        (NODE, {}),
    ]:
        seen, absent = await answer(document, theirs["id"], extra), await answer(document, missing, extra)
        assert seen == absent, (document, seen, absent)
        assert seen["data"]["result" if document != NODE else "node"] in (
            None, {"__typename": "NotFoundError", "code": "NOT_FOUND", "message": "schedule <PK> not found"}
        ), seen

    assert await listed(admin) == {}
    assert await rows_of(owner) == before
    assert await Job.filter(tenant_id=owner.tenant.id).count() == 0


# ---------------------------------------------------------------- time zones


async def test_next_run_is_in_utc_and_on_the_schedules_clock_across_summer_time(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)

    winter = await created(admin, name="winter", cron="0 9 15 1 *", timezone="Europe/Berlin")
    summer = await created(admin, name="summer", cron="0 9 15 7 *", timezone="Europe/Berlin")
    utc = await created(admin, name="utc", cron="0 9 15 7 *", timezone="UTC")

    expected_winter, expected_summer = next_local(1, 15, 9, BERLIN), next_local(7, 15, 9, BERLIN)
    # 09:00 in Berlin is 08:00 UTC in winter (CET, +01:00) and 07:00 UTC in summer (CEST, +02:00).
    assert (winter["nextRunAt"], winter["nextRunAtLocal"]) == (
        f"{expected_winter.year}-01-15T08:00:00+00:00", f"{expected_winter.year}-01-15T09:00:00+01:00"
    )
    assert (summer["nextRunAt"], summer["nextRunAtLocal"]) == (
        f"{expected_summer.year}-07-15T07:00:00+00:00", f"{expected_summer.year}-07-15T09:00:00+02:00"
    )
    assert (utc["nextRunAt"], utc["nextRunAtLocal"]) == (
        f"{expected_summer.year}-07-15T09:00:00+00:00", f"{expected_summer.year}-07-15T09:00:00+00:00"
    )
    # Moving the summer schedule to winter time recomputes its next run.
    moved = (await update(admin, summer["id"], cron="0 9 15 1 *"))["schedule"]
    assert (moved["nextRunAt"], moved["nextRunAtLocal"]) == (winter["nextRunAt"], winter["nextRunAtLocal"])
