"""Tenant isolation at the service level: another tenant's ids answer exactly like missing ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from domain import jobs
from domain.access import Actor, Role
from domain.errors import Forbidden, JobtowerError, NotFound
from domain.models import Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus
from tests.domain.scenarios import MISSING_ID, add_chunk, put_in, snapshot, start

S = JobStatus

# Every service call that takes a job id, with a status from which it would succeed.
ById = Callable[[Actor, int], Awaitable[Any]]
JOB_CALLS: dict[str, tuple[ById, JobStatus]] = {
    "get_job": (jobs.get_job, S.RUNNING),
    "stop": (jobs.stop_job, S.RUNNING),
    "force_stop": (jobs.force_stop_job, S.STOPPING),
    "resume": (jobs.resume_job, S.STOPPED),
    "cancel": (jobs.cancel_job, S.RUNNING),
    "restart": (jobs.restart_job, S.FAILED),
    "retry_failed_records": (jobs.retry_failed_records, S.FAILED),
    "hide": (jobs.hide_job, S.RUNNING),
    "unhide": (jobs.unhide_job, S.RUNNING),
    "set_low_priority": (lambda actor, id: jobs.set_job_low_priority(actor, id, True), S.RUNNING),
    "start_child": (
        lambda actor, id: jobs.start_job(actor, jobs.StartJobRequest(type="test.plain", parent_id=id)),
        S.RUNNING,
    ),
}
# Every service call that takes a record id.
RECORD_CALLS: dict[str, ById] = {
    "get_record": jobs.get_record,
    "complete_wait": lambda actor, id: jobs.complete_wait(actor, id, {"approved": True}),
}


async def refusal(call: Awaitable[Any]) -> JobtowerError:
    with pytest.raises(JobtowerError) as refused:
        await call
    return refused.value


def expected_refusal(role: Role, call: str) -> type[JobtowerError]:
    # A viewer may start nothing at all, so it learns that before any id is looked at.
    return Forbidden if role is Role.VIEWER and call == "start_child" else NotFound


def shape(error: JobtowerError, id: int) -> tuple:
    """What a client can tell from an error, with the id it asked about blanked out."""
    return (type(error), error.code, error.message.replace(str(id), "<id>"))


async def ready_job(actor: Actor, status: JobStatus, type: str = "test.plain"):
    """A job in ``status`` with a failed record and a waiting record, so every call has work."""
    job = await put_in(await start(actor, type), status)
    await add_chunk(job, 0, ChunkStatus.COMPLETED, [RecordStatus.SUCCEEDED, RecordStatus.FAILED])
    chunk = await add_chunk(job, 1, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    waiting = await Record.get(chunk_id=chunk.id)
    return job, waiting


@pytest.mark.parametrize("call", list(JOB_CALLS))
@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.ADMIN])
async def test_another_tenants_job_answers_like_a_missing_one(make_tenant, call, role):
    owner, stranger = await make_tenant(), await make_tenant()
    function, status = JOB_CALLS[call]
    job, _ = await ready_job(owner.actor(Role.ADMIN), status)
    before = await snapshot(job.id)

    foreign = await refusal(function(stranger.actor(role), job.id))
    missing = await refusal(function(stranger.actor(role), MISSING_ID))

    assert isinstance(foreign, expected_refusal(role, call))
    assert shape(foreign, job.id) == shape(missing, MISSING_ID)
    assert await snapshot(job.id) == before


@pytest.mark.parametrize("call", list(RECORD_CALLS))
async def test_another_tenants_record_answers_like_a_missing_one(make_tenant, call):
    owner, stranger = await make_tenant(), await make_tenant()
    job, waiting = await ready_job(owner.actor(), S.WAITING)
    before = await snapshot(job.id)

    foreign = await refusal(RECORD_CALLS[call](stranger.actor(Role.ADMIN), waiting.id))
    missing = await refusal(RECORD_CALLS[call](stranger.actor(Role.ADMIN), MISSING_ID))

    assert isinstance(foreign, NotFound)
    assert shape(foreign, waiting.id) == shape(missing, MISSING_ID)
    assert await snapshot(job.id) == before
    assert (await Record.get(id=waiting.id)).wait_payload is None


async def test_lists_hold_only_the_tenants_own_jobs(make_tenant):
    one, two = await make_tenant(), await make_tenant()
    mine = await start(one.actor())
    await start(two.actor())

    assert await jobs.visible_jobs(one.actor(Role.ADMIN)).values_list("id", flat=True) == [mine.id]


async def test_a_platform_principal_sees_and_steers_every_tenant(make_tenant):
    owner, platform_home = await make_tenant(), await make_tenant()
    job, waiting = await ready_job(owner.actor(Role.ADMIN), S.RUNNING)
    system_job = await start(owner.actor(Role.ADMIN), "test.system")
    platform = platform_home.actor(Role.PLATFORM)

    assert (await jobs.get_job(platform, system_job.id)).id == system_job.id
    assert (await jobs.get_record(platform, waiting.id)).id == waiting.id
    assert set(await jobs.visible_jobs(platform).filter(tenant_id=owner.tenant.id).values_list("id", flat=True)) == {
        job.id,
        system_job.id,
    }
    assert (await jobs.stop_job(platform, job.id)).status is S.STOPPING
    child = await jobs.start_job(platform, jobs.StartJobRequest(type="test.plain", parent_id=job.id))
    assert child.tenant_id == owner.tenant.id


@pytest.mark.parametrize("call", list(JOB_CALLS))
@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_system_jobs_answer_non_admins_like_missing_ones(acme, call, role):
    function, status = JOB_CALLS[call]
    job, _ = await ready_job(acme.actor(Role.ADMIN), status, "test.system")
    before = await snapshot(job.id)

    hidden = await refusal(function(acme.actor(role), job.id))
    missing = await refusal(function(acme.actor(role), MISSING_ID))

    assert isinstance(hidden, expected_refusal(role, call))
    assert shape(hidden, job.id) == shape(missing, MISSING_ID)
    assert await snapshot(job.id) == before


@pytest.mark.parametrize("call", list(RECORD_CALLS))
async def test_records_of_system_jobs_answer_non_admins_like_missing_ones(acme, call):
    job, waiting = await ready_job(acme.actor(Role.ADMIN), S.WAITING, "test.system")

    hidden = await refusal(RECORD_CALLS[call](acme.actor(Role.OPERATOR), waiting.id))
    missing = await refusal(RECORD_CALLS[call](acme.actor(Role.OPERATOR), MISSING_ID))

    assert isinstance(hidden, NotFound)
    assert shape(hidden, waiting.id) == shape(missing, MISSING_ID)
    assert (await Record.get(id=waiting.id)).status is RecordStatus.WAITING


async def test_system_jobs_stay_out_of_non_admin_lists_but_admins_see_them(acme):
    admin = acme.actor(Role.ADMIN)
    plain = await start(admin)
    system_job = await start(admin, "test.system")

    assert await jobs.visible_jobs(acme.actor(Role.OPERATOR)).values_list("id", flat=True) == [plain.id]
    assert set(await jobs.visible_jobs(admin).values_list("id", flat=True)) == {plain.id, system_job.id}
    assert (await jobs.get_job(admin, system_job.id)).system is True
