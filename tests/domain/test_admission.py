"""startJob's admission: what is created, and what is refused with nothing created."""

from __future__ import annotations

import pytest

from domain import jobs
from domain.access import Role
from domain.errors import (
    Forbidden,
    InvalidInput,
    InvalidTransition,
    PlanLimitExceeded,
    UnknownJobType,
)
from domain.models import Job, PlanUsage
from domain.registry import MAX_CHUNK_SIZE
from domain.statuses import EventKind, JobStatus
from domain.usage import plan_usage
from tests.domain.scenarios import events_of, jobs_used, put_in, start


async def tenant_jobs(tenant) -> list[int]:
    return await Job.filter(tenant_id=tenant.tenant.id).order_by("id").values_list("id", flat=True)


async def test_an_admitted_job_is_pending_with_its_first_event(acme):
    operator = acme.actor()

    job = await start(operator, name="contacts", params={"records": 25}, chunk_size=10)

    stored = await Job.get(id=job.id)
    assert (stored.status, stored.seq, stored.tenant_id) == (JobStatus.PENDING, 1, acme.tenant.id)
    assert (stored.type, stored.name, stored.params, stored.chunk_size) == (
        "test.plain", "contacts", {"records": 25}, 10
    )
    assert (stored.parent_id, stored.root_id, stored.system) == (None, job.id, False)
    assert (stored.stoppable, stored.restartable, stored.low_priority) == (True, True, False)
    assert (stored.started_at, stored.ended_at, stored.outcome) == (None, None, None)
    assert [(e.seq, e.kind, e.from_status, e.to_status) for e in await events_of(job)] == [
        (1, EventKind.CREATED, None, JobStatus.PENDING)
    ]
    assert await jobs_used(operator) == 1


async def test_defaults_come_from_the_job_type(acme):
    job = await start(acme.actor(), "test.non_stoppable")

    assert (job.name, job.chunk_size, job.params) == ("test.non_stoppable", 100, {})
    assert (job.stoppable, job.restartable) == (False, True)


# ---------------------------------------------------------------- plan limits


async def test_the_monthly_job_limit_refuses_the_next_start_with_the_numbers(make_tenant):
    tenant = await make_tenant(jobs_per_month=2)
    operator = tenant.actor()
    await start(operator)
    await start(operator)
    admitted = await tenant_jobs(tenant)

    with pytest.raises(PlanLimitExceeded) as refused:
        await start(operator)

    assert refused.value.code == "PLAN_LIMIT"
    assert (refused.value.limit, refused.value.used, refused.value.requested) == (2, 2, 1)
    assert await tenant_jobs(tenant) == admitted
    assert await jobs_used(operator) == 2


async def test_a_zero_job_limit_admits_nothing(make_tenant):
    tenant = await make_tenant(jobs_per_month=0)

    with pytest.raises(PlanLimitExceeded) as refused:
        await start(tenant.actor())

    assert (refused.value.limit, refused.value.used, refused.value.requested) == (0, 0, 1)
    assert await tenant_jobs(tenant) == []
    assert await jobs_used(tenant.actor()) == 0


async def test_the_monthly_record_limit_refuses_a_job_that_would_exceed_it(make_tenant):
    tenant = await make_tenant(records_per_month=50)
    operator = tenant.actor()

    with pytest.raises(PlanLimitExceeded) as refused:
        await start(operator, params={"records": 51})

    assert refused.value.code == "PLAN_LIMIT"
    assert (refused.value.limit, refused.value.used, refused.value.requested) == (50, 0, 51)
    assert "51" in refused.value.message
    assert await tenant_jobs(tenant) == []
    usage = await plan_usage(operator)
    assert (usage.jobs_used, usage.records_used) == (0, 0)


async def test_records_already_processed_this_month_count_against_the_record_limit(make_tenant):
    tenant = await make_tenant(records_per_month=50)
    operator = tenant.actor()
    await start(operator, params={"records": 5})  # still running: its 5 records are reserved
    await PlanUsage.filter(tenant_id=tenant.tenant.id).update(records_used=40)
    admitted = await tenant_jobs(tenant)

    with pytest.raises(PlanLimitExceeded) as refused:
        await start(operator, params={"records": 6})

    assert (refused.value.limit, refused.value.used, refused.value.requested) == (50, 45, 6)
    assert await tenant_jobs(tenant) == admitted
    assert await jobs_used(operator) == 1
    assert (await start(operator, params={"records": 5})).status is JobStatus.PENDING


async def test_a_job_that_uses_the_record_limit_exactly_is_admitted(make_tenant):
    tenant = await make_tenant(records_per_month=50, jobs_per_month=1)

    job = await start(tenant.actor(), params={"records": 50})

    assert job.status is JobStatus.PENDING
    assert await tenant_jobs(tenant) == [job.id]


async def test_without_limits_a_tenant_starts_as_many_jobs_as_it_likes(acme):
    operator = acme.actor()
    for _ in range(5):
        await start(operator, params={"records": 1_000_000})

    usage = await plan_usage(operator)
    assert (usage.jobs_used, usage.jobs_limit, usage.records_limit) == (5, None, None)


async def test_a_refused_start_leaves_the_usage_of_other_tenants_alone(make_tenant):
    full = await make_tenant(jobs_per_month=0)
    other = await make_tenant(jobs_per_month=1)

    with pytest.raises(PlanLimitExceeded):
        await start(full.actor())

    assert (await start(other.actor())).status is JobStatus.PENDING


# ---------------------------------------------------------------- the request itself


async def test_an_unknown_type_is_refused(acme):
    with pytest.raises(UnknownJobType) as refused:
        await start(acme.actor(), "test.nope")

    assert refused.value.code == "UNKNOWN_JOB_TYPE"
    assert "test.nope" in refused.value.message
    assert await tenant_jobs(acme) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"records": "ten"}, "params.records"),
        ({"records": -1}, "params.records"),
        ({"records": 2_000_000}, "params.records"),
        ({"records": 3, "colour": "blue"}, "params"),
        ([1, 2, 3], "params"),
        ("records=3", "params"),
    ],
    ids=["wrong-type", "below-minimum", "above-maximum", "unknown-field", "a-list", "a-string"],
)
async def test_invalid_params_are_refused_naming_the_field(acme, params, field):
    with pytest.raises(InvalidInput) as refused:
        await start(acme.actor(), params=params)

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", field)
    assert refused.value.message.startswith(f"{field}: ")
    assert await tenant_jobs(acme) == []
    assert await jobs_used(acme.actor()) == 0


@pytest.mark.parametrize("chunk_size", [0, -5, MAX_CHUNK_SIZE + 1])
async def test_a_chunk_size_out_of_range_is_refused(acme, chunk_size):
    with pytest.raises(InvalidInput) as refused:
        await start(acme.actor(), chunk_size=chunk_size)

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "chunkSize")
    assert await tenant_jobs(acme) == []


@pytest.mark.parametrize("chunk_size", [1, MAX_CHUNK_SIZE])
async def test_the_chunk_size_limits_themselves_are_allowed(acme, chunk_size):
    assert (await start(acme.actor(), chunk_size=chunk_size)).chunk_size == chunk_size


@pytest.mark.parametrize(("name", "field"), [("   ", "name"), ("x" * 201, "name")])
async def test_a_blank_or_overlong_name_is_refused(acme, name, field):
    with pytest.raises(InvalidInput) as refused:
        await start(acme.actor(), name=name)

    assert refused.value.field == field
    assert await tenant_jobs(acme) == []


# ---------------------------------------------------------------- idempotency keys


async def test_the_same_idempotency_key_returns_the_same_job(acme):
    bot = acme.actor(name="sync bot")

    first = await start(bot, idempotency_key="sync-2026-11-22")
    again = await start(bot, idempotency_key="sync-2026-11-22")

    assert again.id == first.id
    assert await tenant_jobs(acme) == [first.id]
    assert await jobs_used(bot) == 1
    assert len(await events_of(first)) == 1


async def test_the_same_key_returns_the_job_even_after_it_moved_on(acme):
    bot = acme.actor()
    first = await start(bot, idempotency_key="k")
    await put_in(first, JobStatus.FINISHED)

    again = await start(bot, idempotency_key="k")

    assert (again.id, again.status) == (first.id, JobStatus.FINISHED)


async def test_the_same_key_returns_the_job_even_when_the_plan_is_now_full(make_tenant):
    tenant = await make_tenant(jobs_per_month=1)
    first = await start(tenant.actor(), idempotency_key="k")

    assert (await start(tenant.actor(), idempotency_key="k")).id == first.id


async def test_different_keys_start_different_jobs(acme):
    first = await start(acme.actor(), idempotency_key="a")
    second = await start(acme.actor(), idempotency_key="b")

    assert first.id != second.id
    assert await jobs_used(acme.actor()) == 2


async def test_idempotency_keys_belong_to_one_tenant(make_tenant):
    one, two = await make_tenant(), await make_tenant()

    first = await start(one.actor(), idempotency_key="same")
    second = await start(two.actor(), idempotency_key="same")

    assert first.id != second.id
    assert (second.tenant_id, await tenant_jobs(two)) == (two.tenant.id, [second.id])


async def test_an_overlong_idempotency_key_is_refused(acme):
    with pytest.raises(InvalidInput) as refused:
        await start(acme.actor(), idempotency_key="k" * 201)

    assert refused.value.field == "idempotencyKey"
    assert await tenant_jobs(acme) == []


# ---------------------------------------------------------------- parents and children


async def test_a_child_points_at_its_parent_and_at_the_root_of_the_tree(acme):
    operator = acme.actor()
    root = await jobs.mark_running((await start(operator)).id)

    child = await start(operator, parent_id=root.id)
    grandchild = await start(operator, parent_id=child.id)

    assert (child.parent_id, child.root_id) == (root.id, root.id)
    assert (grandchild.parent_id, grandchild.root_id) == (child.id, root.id)
    assert (await Job.get(id=grandchild.id)).root_id == root.id
    assert grandchild.tenant_id == acme.tenant.id


@pytest.mark.parametrize("status", [JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED])
async def test_an_ended_job_takes_no_new_children(acme, status):
    operator = acme.actor()
    parent = await put_in(await start(operator), status)

    with pytest.raises(InvalidTransition) as refused:
        await start(operator, parent_id=parent.id)

    assert refused.value.code == "INVALID_TRANSITION"
    assert await tenant_jobs(acme) == [parent.id]
    assert await jobs_used(operator) == 1


# ---------------------------------------------------------------- who may start what


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_only_admins_start_system_job_types(acme, role):
    with pytest.raises(Forbidden) as refused:
        await start(acme.actor(role), "test.system")

    assert refused.value.code == "FORBIDDEN"
    assert await tenant_jobs(acme) == []


async def test_an_admin_starts_a_system_job(acme):
    job = await start(acme.actor(Role.ADMIN), "test.system")

    assert (job.system, job.stoppable) == (True, False)


async def test_a_viewer_starts_nothing(acme):
    with pytest.raises(Forbidden):
        await start(acme.actor(Role.VIEWER))

    assert await tenant_jobs(acme) == []
    assert await jobs_used(acme.actor()) == 0


async def test_an_idempotency_key_of_another_type_is_refused_and_a_system_jobs_key_is_apart(acme):
    from domain.access import Role
    from domain.errors import InvalidInput
    from domain.jobs import StartJobRequest, start_job
    from domain.models import Job

    admin, operator = acme.actor(Role.ADMIN), acme.actor(Role.OPERATOR)
    system = await start_job(admin, StartJobRequest(type="test.system", idempotency_key="nightly"))
    await start_job(operator, StartJobRequest(type="test.plain", idempotency_key="sync-1"))
    before = await Job.filter(tenant_id=acme.tenant.id).count()

    try:
        await start_job(operator, StartJobRequest(type="test.non_stoppable", idempotency_key="sync-1"))
    except InvalidInput as error:
        assert error.field == "idempotencyKey"
    else:
        raise AssertionError("the same key with another type was admitted")
    assert await Job.filter(tenant_id=acme.tenant.id).count() == before

    # The operator cannot see the system job: its key names nothing for the operator.
    own = await start_job(operator, StartJobRequest(type="test.plain", idempotency_key="nightly"))
    assert own.id != system.id and not own.system
    again = await start_job(admin, StartJobRequest(type="test.system", idempotency_key="nightly"))
    assert again.id == system.id
