"""Who may do what, over HTTP: a role × operation matrix, and a cross-tenant matrix in
which another tenant's ids answer exactly like ids that do not exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from domain.access import Role
from domain.bulk import start_bulk_operation
from domain.jobs import hide_job
from domain.clock import utcnow
from domain.logs import LogLevel, LogLine, write_logs
from domain.models import JobLog, Record
from domain.schedules import create_schedule
from domain.statuses import BulkAction, ChunkStatus, JobOutcome, JobStatus, RecordStatus
from tests.domain.scenarios import MISSING_ID, add_chunk, put_in, snapshot, start
from tests.gql.support import Api, TenantApi, gid, substitute

ROLES = [Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.PLATFORM]
TENANT_ROLES = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]

RESULT = """__typename ... on Error { code message } ... on ForbiddenError { neededRole }"""


@dataclass(frozen=True)
class Target:
    """An object an operation acts on: its global id, and the job whose state must not change."""

    kind: str
    pk: int
    job_id: int | None

    @property
    def id(self) -> str:
        return gid(self.kind, self.pk)


Prepare = Callable[[Api], Awaitable[Target]]


async def pending_job(admin: Api) -> Target:
    job = await start(admin.actor)
    return Target("Job", job.id, job.id)


async def hidden_job(admin: Api) -> Target:
    job = await hide_job(admin.actor, (await start(admin.actor)).id)
    return Target("Job", job.id, job.id)


async def bulk_stop(admin: Api) -> Target:
    job = await start(admin.actor)
    operation = await start_bulk_operation(admin.actor, BulkAction.STOP, ids=[job.id])
    return Target("BulkOperation", operation.id, job.id)


def job_in(status: JobStatus, **fields: Any) -> Prepare:
    async def prepare(admin: Api) -> Target:
        job = await start(admin.actor)
        await put_in(job, status, **fields)
        return Target("Job", job.id, job.id)

    return prepare


async def finished_with_failures(admin: Api) -> Target:
    job = await start(admin.actor)
    await put_in(job, JobStatus.FINISHED, outcome=JobOutcome.WITH_ERRORS, ended_at=utcnow())
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.FAILED])
    return Target("Job", job.id, job.id)


async def waiting_record(admin: Api) -> Target:
    job = await start(admin.actor, type="test.approval")
    await put_in(job, JobStatus.WAITING)
    chunk = await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    record = await Record.get(chunk_id=chunk.id)
    return Target("Record", record.id, job.id)


async def schedule(admin: Api) -> Target:
    made = await create_schedule(admin.actor, f"schedule {utcnow().timestamp()}", "test.plain", "0 3 * * *")
    return Target("Schedule", made.id, None)


@dataclass(frozen=True)
class Mutation:
    name: str
    prepare: Prepare
    needs: Role
    argument: str = "id"
    extra: str = ""
    success: str = "JobOperationSuccess"

    def document(self) -> str:
        return f"mutation M($id: ID!) {{ result: {self.name}({self.argument}: $id{self.extra}) {{ {RESULT} }} }}"


MUTATIONS = [
    Mutation("stopJob", pending_job, Role.OPERATOR),
    Mutation("resumeJob", job_in(JobStatus.STOPPED), Role.OPERATOR),
    Mutation("forceStopJob", job_in(JobStatus.STOPPING), Role.OPERATOR),
    Mutation("cancelJob", pending_job, Role.OPERATOR),
    Mutation("restartJob", job_in(JobStatus.FAILED, ended_at=utcnow()), Role.OPERATOR, success="JobStarted"),
    Mutation("setJobLowPriority", pending_job, Role.ADMIN, extra=", lowPriority: true"),
    Mutation("hideJob", pending_job, Role.OPERATOR),
    Mutation("unhideJob", hidden_job, Role.ADMIN),
    Mutation("cancelBulkOperation", bulk_stop, Role.OPERATOR, success="BulkOperationCanceled"),
    Mutation("retryFailedRecords", finished_with_failures, Role.OPERATOR, argument="jobId", success="JobStarted"),
    Mutation("completeWait", waiting_record, Role.OPERATOR, argument="recordId", success="RecordOperationSuccess"),
    Mutation("updateSchedule", schedule, Role.ADMIN, extra=', input: {cron: "0 4 * * *"}', success="ScheduleOperationSuccess"),
    Mutation("setScheduleEnabled", schedule, Role.ADMIN, extra=", enabled: false", success="ScheduleOperationSuccess"),
    Mutation("deleteSchedule", schedule, Role.ADMIN, success="ScheduleDeleted"),
    Mutation("runScheduleNow", schedule, Role.ADMIN, success="JobStarted"),
    # startJob under a parent: the only id it takes.
    Mutation("startJob", pending_job, Role.OPERATOR, argument="input", success="JobStarted"),
]


def mutation_document(mutation: Mutation) -> str:
    if mutation.name == "startJob":
        return f'mutation M($id: ID!) {{ result: startJob(input: {{type: "test.plain", parentId: $id}}) {{ {RESULT} }} }}'
    return mutation.document()


QUERIES: dict[str, str] = {
    "node": "query Q($id: ID!) { node(id: $id) { __typename id } }",
    "job": "query Q($id: ID!) { job(id: $id) { id name } }",
    "jobs": "{ jobs(filter: {includeHidden: true}) { totalCount edges { node { id } } } }",
    "jobTypes": "{ jobTypes { name system } }",
    "schedules": "{ schedules { id name lastRuns { job { id } } } }",
    "viewer": "{ viewer { role tenant { id } } }",
    "usage": "{ usage { month jobsUsed } }",
}


async def snapshot_of(target: Target) -> Any:
    return await snapshot(target.job_id) if target.job_id is not None else None


# ---------------------------------------------------------------- roles


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_may_do_what_its_rank_allows_and_no_more(acme_api: TenantApi, role: Role):
    api = await acme_api.as_(role)
    admin = await acme_api.as_(Role.ADMIN)
    job = await start(admin.actor, name="readable")
    await create_schedule(admin.actor, "readable", "test.plain", "0 3 * * *")

    for name, document in QUERIES.items():
        body = await api.execute(document, {"id": gid("Job", job.id)} if "$id" in document else None)
        assert "errors" not in body, (role, name, body)
        assert all(value is not None for value in body["data"].values()), (role, name)
    assert (await api.data(QUERIES["viewer"]))["viewer"]["role"] == role.value
    system_jobs = await api.error_codes("{ jobs(filter: {includeSystem: true}) { totalCount } }")
    assert system_jobs == ([] if api.actor.has(Role.ADMIN) else ["FORBIDDEN"]), role

    outcomes = {}
    for mutation in MUTATIONS:
        target = await mutation.prepare(admin)
        before = await snapshot_of(target)
        result = (await api.data(mutation_document(mutation), {"id": target.id}))["result"]
        outcomes[mutation.name] = result["__typename"]
        if api.actor.has(mutation.needs):
            assert result["__typename"] == mutation.success, (role, mutation.name, result)
        else:
            assert result == {
                "__typename": "ForbiddenError",
                "code": "FORBIDDEN",
                "message": result["message"],
                "neededRole": mutation.needs.value,
            }, (role, mutation.name)
            assert await snapshot_of(target) == before, (role, mutation.name)

    allowed = {name for name, typename in outcomes.items() if not typename.endswith("Error")}
    assert allowed == {
        Role.VIEWER: set(),
        Role.OPERATOR: {m.name for m in MUTATIONS}
        - {"setJobLowPriority", "unhideJob", "updateSchedule", "setScheduleEnabled", "deleteSchedule", "runScheduleNow"},
        Role.ADMIN: {m.name for m in MUTATIONS},
        Role.PLATFORM: {m.name for m in MUTATIONS},
    }[role]


# ---------------------------------------------------------------- tenants and system jobs


async def objects_of(owner: TenantApi) -> dict[str, Target]:
    admin = await owner.as_(Role.ADMIN)
    job = await start(admin.actor, name="secret")
    chunk = await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.RUNNING])
    record = await Record.get(chunk_id=chunk.id)
    await write_logs([LogLine(job_id=job.id, level=LogLevel.INFO, message="secret line")])
    line = await JobLog.get(job_id=job.id)
    return {
        "Job": Target("Job", job.id, job.id),
        "Chunk": Target("Chunk", chunk.id, job.id),
        "Record": Target("Record", record.id, job.id),
        "LogEntry": Target("LogEntry", line.id, job.id),
        "Schedule": await schedule(admin),
        "Tenant": Target("Tenant", owner.tenant.id, None),
        "Principal": Target("Principal", admin.principal.id, None),
        "BulkOperation": await bulk_stop(admin),
    }


async def system_objects_of(owner: TenantApi) -> dict[str, Target]:
    """A system job of the asker's own tenant, its parts, and a schedule of a system type."""
    admin = await owner.as_(Role.ADMIN)
    job = await start(admin.actor, type="test.system", name="prune")
    chunk = await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    record = await Record.get(chunk_id=chunk.id)
    await write_logs([LogLine(job_id=job.id, level=LogLevel.INFO, message="pruned")])
    line = await JobLog.get(job_id=job.id)
    made = await create_schedule(admin.actor, "nightly prune", "test.system", "0 2 * * *")
    return {
        "Job": Target("Job", job.id, job.id),
        "Chunk": Target("Chunk", chunk.id, job.id),
        "Record": Target("Record", record.id, job.id),
        "LogEntry": Target("LogEntry", line.id, job.id),
        "Schedule": Target("Schedule", made.id, None),
    }


def missing(target: Target) -> Target:
    return Target(target.kind, MISSING_ID, None)


async def answers(api: Api, document: str, target: Target) -> Any:
    body = await api.execute(document, {"id": target.id})
    return substitute(body, {target.id: "<ID>", str(target.pk): "<PK>"})


async def assert_answers_like_missing(api: Api, targets: dict[str, Target], mutations: list[Mutation]) -> None:
    """Every query and mutation that takes one of ``targets`` answers as for an id of nothing,
    and leaves the target as it was."""
    before = {kind: await snapshot_of(target) for kind, target in targets.items()}
    for kind, target in targets.items():
        for document in (QUERIES["node"], QUERIES["job"]):
            seen, absent = await answers(api, document, target), await answers(api, document, missing(target))
            assert seen == absent, (kind, document, seen, absent)
            assert "errors" not in seen and list(seen["data"].values()) == [None], (kind, seen)
    for kind, document in [
        ("Tenant", "query Q($id: ID!) { jobs(filter: {tenantId: $id}) { totalCount } }"),
        ("Principal", "query Q($id: ID!) { jobs(filter: {runBy: $id}) { totalCount } }"),
    ]:
        if kind in targets:
            target = targets[kind]
            assert await answers(api, document, target) == await answers(api, document, missing(target)), kind
    for mutation in mutations:
        kind = (
            "Record" if mutation.name == "completeWait"
            else "Schedule" if mutation.prepare is schedule
            else "BulkOperation" if mutation.name == "cancelBulkOperation"
            else "Job"
        )
        if kind not in targets:
            continue
        target = targets[kind]
        seen = await answers(api, mutation_document(mutation), target)
        absent = await answers(api, mutation_document(mutation), missing(target))
        assert seen == absent, (mutation.name, seen, absent)
        assert seen["data"]["result"]["code"] in ("NOT_FOUND", "FORBIDDEN"), (mutation.name, seen)
    for kind, target in targets.items():
        assert await snapshot_of(target) == before[kind], kind


@pytest.mark.parametrize("role", TENANT_ROLES)
async def test_another_tenants_ids_answer_exactly_like_ids_of_nothing(tenant_api, role: Role):
    asker = await (await tenant_api()).as_(role)
    other = await tenant_api()
    targets = await objects_of(other)

    await assert_answers_like_missing(asker, targets, MUTATIONS)

    # Nor does anything of theirs show in the lists.
    listed = await asker.data(
        "query L($slug: String, $system: Boolean) {"
        " jobs(filter: {search: $slug, includeSystem: $system, includeHidden: true}) { totalCount }"
        " schedules { id } viewer { tenant { id } } }",
        {"slug": other.tenant.slug, "system": asker.actor.has(Role.ADMIN)},
    )
    assert listed["jobs"]["totalCount"] == 0
    assert targets["Schedule"].id not in {s["id"] for s in listed["schedules"]}
    assert listed["viewer"]["tenant"]["id"] != other.id
    # The same operations work for the owner: the refusals above were the tenant boundary.
    owner = await other.as_(Role.ADMIN)
    assert (await owner.data(QUERIES["job"], {"id": targets["Job"].id}))["job"]["name"] == "secret"
    for mutation in (MUTATIONS[0], MUTATIONS[-2]):  # stopJob, runScheduleNow
        target = targets["Schedule"] if mutation.name == "runScheduleNow" else targets["Job"]
        result = (await owner.data(mutation_document(mutation), {"id": target.id}))["result"]
        assert result["__typename"] == mutation.success, (mutation.name, result)


async def test_a_platform_principal_reaches_every_tenant(tenant_api):
    platform = await (await tenant_api()).as_(Role.PLATFORM)
    other = await tenant_api()
    targets = await objects_of(other)

    for kind, target in targets.items():
        assert (await platform.data(QUERIES["node"], {"id": target.id}))["node"] == {"__typename": kind, "id": target.id}
    result = (await platform.data(mutation_document(MUTATIONS[0]), {"id": targets["Job"].id}))["result"]
    assert result["__typename"] == "JobOperationSuccess"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_system_jobs_are_invisible_below_admin(acme_api: TenantApi, role: Role):
    api = await acme_api.as_(role)
    admin = await acme_api.as_(Role.ADMIN)
    targets = await system_objects_of(acme_api)
    parent = await start(admin.actor, name="parent")
    await start(admin.actor, type="test.system", name="system child", parent_id=parent.id)
    await start(admin.actor, name="plain child", parent_id=parent.id)

    await assert_answers_like_missing(api, targets, MUTATIONS)

    listed = await api.data(
        'query L($id: ID!) { all: jobs(filter: {search: "prune"}) { totalCount }'
        " job(id: $id) { children { totalCount edges { node { name } } } }"
        " schedules { name } jobTypes { name } }",
        {"id": gid("Job", parent.id)},
    )
    assert listed["all"]["totalCount"] == 0
    # Asking for them is refused, not quietly ignored.
    asked = await api.execute('{ all: jobs(filter: {includeSystem: true, search: "prune"}) { totalCount } }')
    assert [(e["extensions"]["code"], e["path"]) for e in asked["errors"]] == [("FORBIDDEN", ["all"])]
    assert listed["job"]["children"] == {"totalCount": 1, "edges": [{"node": {"name": "plain child"}}]}
    assert "nightly prune" not in {s["name"] for s in listed["schedules"]}
    assert "test.system" not in {t["name"] for t in listed["jobTypes"]}
    as_admin = await admin.data(
        'query L($id: ID!) { all: jobs(filter: {includeSystem: true, search: "prune"}) { totalCount }'
        " job(id: $id) { children { totalCount } } }",
        {"id": gid("Job", parent.id)},
    )
    assert (as_admin["all"]["totalCount"], as_admin["job"]["children"]["totalCount"]) == (1, 2)
    assert (await admin.data(QUERIES["node"], {"id": targets["Chunk"].id}))["node"] == {
        "__typename": "Chunk", "id": targets["Chunk"].id
    }
