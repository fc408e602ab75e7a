"""The verbs of a job's life. Each is one guarded conditional update plus the event it records.

A verb first finds the job as the actor may see it (another tenant's job is
``NotFound``), then checks the role, then asks ``check_transition``. The
status write is ``UPDATE job ... WHERE id = ? AND status = <the status we
checked>``: if another operator moved the job in between, the update touches
nothing and the verb re-reads and re-checks, so concurrent requests leave one
valid history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Subquery
from tortoise.queryset import QuerySet

from domain import chunks, db, trace_context
from domain.access import Actor, PlatformActor, Role
from domain.clock import utcnow
from domain.enumeration import keys_at_admission
from domain.errors import (
    InvalidInput,
    InvalidTransition,
    JobNotRestartable,
    JobNotStoppable,
    NotFound,
)
from domain.history import OPERATION
from domain.inputs import MAX_NAME_LENGTH, check_json, check_name, check_text
from domain.journal import transition_line
from domain.journey import answered, waiting_step
from domain.logs import write_logs
from domain.models import Chunk, Job, JobEvent, JobLog, Record, Tenant
from domain.opaque import digest
from domain.partitions import partition_for_new_job
from domain.registry import MAX_CHUNK_SIZE, JobType, registry
from domain.rollup import forget
from domain.statuses import (
    CHUNK_OPEN,
    FOLLOWED,
    IN_FLIGHT,
    JOB_TRANSITIONS,
    RECORD_RETRYABLE,
    TERMINAL,
    ChunkStatus,
    EventKind,
    JobOutcome,
    JobStatus,
    Operation,
    RecordStatus,
    check_transition,
)
from domain.sync_sizes import sync_size
from domain.usage import reserve, settle
from domain.wakeups import work_ready

MAX_IDEMPOTENCY_KEY_LENGTH = 200
# A verb re-checks at most this many times when other writers keep moving the job.
MAX_RACES = 20

Effect = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True)
class StartJobRequest:
    type: str
    name: str | None = None
    params: Any = None
    chunk_size: int | None = None
    low_priority: bool = False
    idempotency_key: str | None = None
    parent_id: int | None = None
    # Set when a schedule starts the job.
    schedule_id: int | None = None


# ---------------------------------------------------------------- lookups


def visible_jobs(actor: Actor) -> QuerySet[Job]:
    """The jobs ``actor`` may see: its tenant's (all for platform), system jobs for admins."""
    jobs = Job.all()
    if not actor.is_platform:
        jobs = jobs.filter(tenant_id=actor.tenant_id)
    if not actor.sees_system_jobs:
        jobs = jobs.filter(system=False)
    return jobs


async def get_job(actor: Actor, job_id: int) -> Job:
    job = await visible_jobs(actor).get_or_none(id=job_id)
    if job is None:
        raise NotFound("job", job_id)
    return job


PartOfJob = TypeVar("PartOfJob", Chunk, Record, JobLog)


def visible_parts(actor: Actor, model: type[PartOfJob]) -> QuerySet[PartOfJob]:
    """The chunks, records or log lines of the jobs ``actor`` may see. The job's visibility is a
    condition of the one query: another tenant's row costs what a missing one does, so neither
    the answer nor its time tells them apart."""
    return model.filter(job_id__in=Subquery(visible_jobs(actor).values("id")))


async def get_record(actor: Actor, record_id: int) -> Record:
    """The record with its job, in one query whether it is found or not."""
    record = await visible_parts(actor, Record).select_related("job").get_or_none(id=record_id)
    if record is None:
        raise NotFound("record", record_id)
    return record


def can_see(actor: Actor, job: Job) -> bool:
    return actor.sees_tenant(job.tenant_id) and (actor.sees_system_jobs or not job.system)


# ---------------------------------------------------------------- admission


async def start_job(actor: Actor, request: StartJobRequest) -> Job:
    """Admit a job: permission, type, params, plan limit, idempotency. Nothing is created on refusal."""
    actor.require(Role.OPERATOR, "startJob")
    if request.low_priority:
        # Choosing a priority is an admin's decision, at the start as later (setJobLowPriority).
        actor.require(Role.ADMIN, "starting a job with low priority")
    job_type = registry.get(request.type)
    if job_type.system:
        actor.require(Role.ADMIN, f"starting the system job type {job_type.name}")
    parent = await get_job(actor, request.parent_id) if request.parent_id is not None else None
    if parent is not None and parent.status in TERMINAL:
        raise InvalidTransition(
            parent.status.value, "START_CHILD", f"cannot add a child to a {parent.status} job"
        )
    check_text("idempotencyKey", request.idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH)
    tenant_id = parent.tenant_id if parent is not None else actor.tenant_id
    same_key = {"tenant_id": tenant_id, "idempotency_key": _stored_key(job_type, request.idempotency_key)}
    if request.idempotency_key is not None:
        existing = await Job.get_or_none(**same_key)
        if existing is not None:
            return _same_request(actor, existing, request)
    chunk_size = request.chunk_size if request.chunk_size is not None else await sync_size(tenant_id, job_type)
    job = _new_job(actor, job_type, request, tenant_id, parent, chunk_size)
    try:
        job = await _admit(actor, job, job_type.records_requested(job.params))
    except IntegrityError:
        # A concurrent request with the same idempotency key won the insert.
        existing = await Job.get_or_none(**same_key)
        if request.idempotency_key is None or existing is None:
            raise
        return _same_request(actor, existing, request)
    return await _follow_parent(actor, job) if parent is not None else job


def _stored_key(job_type: JobType, key: str | None) -> str | None:
    """Keys are unique per tenant, apart for system jobs: theirs is stored as a digest no client
    can make, so the job an operator's key finds is always one it may see, and whether a system
    job used a key never shows (only admins start system jobs, with the key itself)."""
    if key is None or not job_type.system:
        return key
    return digest("system job idempotency key", key)


def _same_request(actor: Actor, existing: Job, request: StartJobRequest) -> Job:
    """The job an idempotency key already started, if it answers the same request."""
    # Unseen: a system job that kept its key as sent, from before keys were digests.
    if not can_see(actor, existing) or existing.type != request.type:
        raise InvalidInput("idempotencyKey", "is already used for another job")
    return existing


async def _follow_parent(actor: Actor, child: Job) -> Job:
    """A child started while its parent stops or cancels (a step in flight spawned it) follows at once.

    The parent is read after the child exists: either the parent's cascade saw
    the child, or this read sees the parent's new status.
    """
    parent = await Job.get(id=child.parent_id)
    if parent.status in (JobStatus.STOPPING, JobStatus.STOPPED):
        follow = stop_job
    elif parent.status in (JobStatus.CANCELING, JobStatus.CANCELED):
        follow = cancel_job
    else:
        return child
    try:
        return await follow(actor, child.id)
    except (InvalidTransition, JobNotStoppable):
        return child


def _new_job(
    actor: Actor, job_type: JobType, request: StartJobRequest, tenant_id: int, parent: Job | None, chunk_size: int
) -> Job:
    name = request.name if request.name is not None else job_type.name
    check_name(name)
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise InvalidInput("chunkSize", f"must be between 1 and {MAX_CHUNK_SIZE}")
    params = job_type.validate_params(request.params)
    return Job(
        tenant_id=tenant_id,
        type=job_type.name,
        name=name,
        params=params,
        step_names=[step.name for step in job_type.steps_for(params)],
        chunk_size=chunk_size,
        system=job_type.system,
        stoppable=job_type.stoppable,
        restartable=job_type.restartable,
        low_priority=request.low_priority,
        run_by_id=actor.principal_id,
        parent_id=parent.id if parent is not None else None,
        root_id=parent.root_id if parent is not None else None,
        idempotency_key=_stored_key(job_type, request.idempotency_key),
        schedule_id=request.schedule_id,
    )


async def _admit(actor: Actor, job: Job, records_requested: int | None) -> Job:
    """Create the job with its plan reservation, or refuse with ``PlanLimitExceeded``."""
    tenant = await Tenant.get(id=job.tenant_id)
    # The job's creation is the moment every later figure of it counts from, and
    # the month its records count in: one reading of the clock for both.
    job.created_at = utcnow()
    job.records_reserved = records_requested or 0
    job.trace_context = trace_context.current()
    # A small job's chunk is written with it (``domain.enumeration``).
    keys = None if job.retry_failed else await keys_at_admission(
        registry.get(job.type), job.params, job.chunk_size, records_requested
    )
    if keys is not None:
        job.enumerated, job.total = True, len(keys)
    async with db.transaction():
        await reserve(tenant, job.created_at, records_requested, root=job.parent_id is None)
        job.partition_id = await partition_for_new_job(records_requested, job.created_at)
        job.seq = 1
        await job.save()
        if job.root_id is None:
            job.root_id = job.id
            await Job.filter(id=job.id).update(root_id=job.id)
        if keys is not None:
            await chunks.create(job, 0, 0, keys)
        await _record_event(job, EventKind.CREATED, None, JobStatus.PENDING, actor)
    await work_ready()
    return job


# ---------------------------------------------------------------- what a verb would refuse
# Each verb runs its check before it moves the job; a bulk preview runs the same check on a
# job's row to count the jobs an action may change now.


def check_stop(job: Job) -> None:
    check_stoppable(job)
    check_transition(job.status, Operation.STOP)


def check_resume(job: Job) -> None:
    check_transition(job.status, Operation.RESUME)


def check_cancel(job: Job) -> None:
    check_cancelable(job)
    check_transition(job.status, Operation.CANCEL)


def check_retry_failed(job: Job) -> None:
    """What the job's row decides; the verb also needs a record of it to have failed."""
    check_rerunnable(job, Operation.RETRY_FAILED)


def check_not_ended(job: Job) -> None:
    if job.status in TERMINAL:
        raise _ended(job, "SET_LOW_PRIORITY")


def check_unhide(job: Job) -> None:
    if not job.hidden:
        raise InvalidTransition(job.status.value, "UNHIDE", "the job is not hidden")


def check_rerunnable(job: Job, operation: Operation) -> None:
    if not job.restartable:
        raise JobNotRestartable(job.type)
    check_transition(job.status, operation)


def check_stoppable(job: Job) -> None:
    if job.system and not job.stoppable:
        raise JobNotStoppable(job.type)


def check_cancelable(job: Job) -> None:
    # Canceling a job with work in flight stops it first; PENDING and STOPPED have none.
    if job.status not in (JobStatus.PENDING, JobStatus.STOPPED):
        check_stoppable(job)


def with_retryable_records(listed: QuerySet[Job]) -> QuerySet[Job]:
    """The jobs of ``listed`` with a record ``retryFailedRecords`` would run again."""
    return listed.filter(
        id__in=Subquery(Record.filter(status__in=list(RECORD_RETRYABLE)).values("job_id"))
    )


def _ended(job: Job, operation: str) -> InvalidTransition:
    return InvalidTransition(job.status.value, operation, f"the job is {job.status}: it runs nothing more")


# ---------------------------------------------------------------- operator verbs


async def stop_job(actor: Actor, job_id: int) -> Job:
    job = await _steerable(actor, job_id, "stopJob")
    job = await _transition(job, Operation.STOP, actor, effect=_stop_idle_chunks)
    await _cascade(job, actor, stop_job, Operation.STOP)
    return job


async def force_stop_job(actor: Actor, job_id: int) -> Job:
    job = await _steerable(actor, job_id, "forceStopJob")
    job = await _transition(job, Operation.FORCE_STOP, actor, effect=_interrupt_in_flight)
    await _cascade(job, actor, force_stop_job, Operation.FORCE_STOP)
    return job


async def resume_job(actor: Actor, job_id: int) -> Job:
    job = await get_job(actor, job_id)
    actor.require(Role.OPERATOR, "resumeJob")
    job = await _transition(job, Operation.RESUME, actor, effect=_reopen_stopped_chunks)
    await _cascade(job, actor, resume_job, Operation.RESUME)
    await work_ready()
    return await _start_if_no_chunk_will(job)


async def _start_if_no_chunk_will(job: Job) -> Job:
    """A resumed job with none of its own chunks left to run (only children, or nothing) moves on now.

    Its first chunk would start it; there is none, so it starts here, and
    finishes unless children are still to run (their end settles it then).
    """
    if not job.enumerated or await Chunk.filter(job_id=job.id, status__in=CHUNK_OPEN).exists():
        return job
    job = await mark_running(job.id, by=Actor.system) or job
    if not await Job.filter(parent_id=job.id).exclude(status__in=TERMINAL).exists():
        job = await finish_job(job.id, by=Actor.system) or job
    return job


async def cancel_job(actor: Actor, job_id: int) -> Job:
    job = await get_job(actor, job_id)
    actor.require(Role.OPERATOR, "cancelJob")
    job = await _transition(job, Operation.CANCEL, actor, effect=_discard_if_canceled, check=check_cancelable)
    await _cascade(job, actor, cancel_job, Operation.CANCEL)
    return job


async def restart_job(actor: Actor, job_id: int) -> Job:
    """A new PENDING job with the old one's type, name and params; the old job keeps its history.

    A retry run again is the same retry: it runs the failed records of the job it retried.
    """
    old = await get_job(actor, job_id)
    actor.require(Role.OPERATOR, "restartJob")
    check_rerunnable(old, Operation.RESTART)
    if old.retry_failed and old.restarted_from_id is not None:
        source = await Job.get_or_none(id=old.restarted_from_id)
        if source is None:
            raise InvalidTransition(
                old.status.value, Operation.RESTART.value, "the job whose failed records it retried is gone"
            )
        return await _start_again(actor, source, name=old.name, retried=await _failed_records(source))
    return await _start_again(actor, old, name=old.name)


async def retry_failed_records(actor: Actor, job_id: int) -> Job:
    """A new job that runs again the records of ``job_id`` that failed or were interrupted.

    Its name and its total say how many; ``restartedFrom`` links the job it retries.
    """
    old = await get_job(actor, job_id)
    actor.require(Role.OPERATOR, "retryFailedRecords")
    check_retry_failed(old)
    failed = await _failed_records(old)
    if not failed:
        raise InvalidTransition(old.status.value, Operation.RETRY_FAILED.value, "the job has no failed records")
    return await _start_again(actor, old, name=_retry_name(old.name, failed), retried=failed)


async def _failed_records(job: Job) -> int:
    return await Record.filter(job_id=job.id, partition_id=job.partition_id, status__in=RECORD_RETRYABLE).count()


def _retry_name(name: str, failed: int) -> str:
    said = f" (retry of {failed} failed record{'' if failed == 1 else 's'})"
    return name[: MAX_NAME_LENGTH - len(said)] + said


async def _start_again(actor: Actor, old: Job, *, name: str, retried: int | None = None) -> Job:
    """A new job of ``old``'s type and params; ``retried``: it runs only that many records,
    the failed ones of ``old``, a number known exactly before they are enumerated."""
    job_type = registry.get(old.type)
    job = Job(
        tenant_id=old.tenant_id,
        type=old.type,
        name=name,
        params=old.params,
        chunk_size=old.chunk_size,
        system=old.system,
        stoppable=job_type.stoppable,
        restartable=job_type.restartable,
        low_priority=old.low_priority,
        run_by_id=actor.principal_id,
        restarted_from_id=old.id,
        retry_failed=retried is not None,
        total=retried,
        step_names=old.step_names,
    )
    requested = retried if retried is not None else job_type.records_requested(old.params)
    return await _admit(actor, job, requested)


async def set_job_low_priority(actor: Actor, job_id: int, low_priority: bool) -> Job:
    """Refused once the job ended: it runs nothing more, so a priority would mean nothing."""
    job = await get_job(actor, job_id)
    actor.require(Role.ADMIN, "setJobLowPriority")
    check_not_ended(job)
    return await _mark(
        job, actor, EventKind.PRIORITY_CHANGED, refused_once_ended="SET_LOW_PRIORITY", low_priority=low_priority
    )


async def hide_job(actor: Actor, job_id: int) -> Job:
    """Removes the job from lists; never cancels anything."""
    job = await get_job(actor, job_id)
    actor.require(Role.OPERATOR, "hideJob")
    return await _mark(job, actor, EventKind.HIDDEN, hidden=True)


async def unhide_job(actor: Actor, job_id: int) -> Job:
    """Brings a hidden job back into lists. An admin's decision: hiding is an operator's
    tidying up, showing again what someone put away is not."""
    job = await get_job(actor, job_id)
    actor.require(Role.ADMIN, "unhideJob")
    check_unhide(job)
    return await _mark(job, actor, EventKind.UNHIDDEN, hidden=False)


async def complete_wait(actor: Actor, record_id: int, payload: Any = None) -> Record:
    """Deliver the answer a WAITING record waits for; the record continues from its next step.

    An answer the waiting step does not expect (its ``answer_schema``), or one no database
    stores (``domain.inputs``), is refused with ``InvalidInput`` naming the field, and
    changes nothing.
    """
    record = await get_record(actor, record_id)
    actor.require(Role.OPERATOR, "completeWait")
    check_json("payload", payload)
    if record.status is RecordStatus.WAITING:
        _check_answer(record, payload)
    if not await _continue_waiting(record, payload, actor):
        raise InvalidTransition(
            record.status.value, "COMPLETE_WAIT", f"record is {record.status}, not WAITING"
        )
    await record.refresh_from_db()
    return record


def _check_answer(record: Record, payload: Any) -> None:
    index = waiting_step(record.journey)
    job = record.job
    if index is None or index >= len(job.step_names) or job.type not in registry:
        return
    step = registry.get(job.type).step_named(job.step_names[index])
    if step is not None:
        step.check_answer(payload)


# What a step that waited finds in ``context.payload`` when nobody answered in time.
WAIT_TIMED_OUT = {"timedOut": True}


async def expire_waits(limit: int = 1000) -> int:
    """Records whose wait timed out continue with ``WAIT_TIMED_OUT``; their step decides what follows."""
    open_jobs = Subquery(Job.filter(status__in=IN_FLIGHT | {JobStatus.STOPPED}).values("id"))
    expired = await Record.filter(
        job_id__in=open_jobs, status=RecordStatus.WAITING, wait_deadline__lt=utcnow()
    ).limit(limit).prefetch_related("job")
    continued = 0
    for record in expired:
        continued += await _continue_waiting(record, WAIT_TIMED_OUT, Actor.system(record.job.tenant_id))
    return continued


async def _continue_waiting(record: Record, payload: Any, actor: Actor) -> bool:
    # A WAITING record's journey does not change until it is reopened, so the one
    # read with it is the one the guarded update replaces.
    journey = answered(record.journey, actor.name) if waiting_step(record.journey) is not None else record.journey
    async with db.transaction():
        reopened = await Record.filter(id=record.id, partition_id=record.partition_id, status=RecordStatus.WAITING).update(
            status=RecordStatus.PENDING, wait_payload=payload, wait_deadline=None, waiting_since=None, journey=journey
        )
        if not reopened:
            return False
        # A chunk whose remaining records all waited was parked without a lease.
        await chunks.answer(record.chunk_id)
    job = await Job.get(id=record.job_id)
    if job.status is JobStatus.WAITING:
        await _try_transition(job, Operation.WAIT_COMPLETED, actor)
    return True


async def _steerable(actor: Actor, job_id: int, action: str) -> Job:
    job = await get_job(actor, job_id)
    actor.require(Role.OPERATOR, action)
    check_stoppable(job)
    return job


async def lead_children(job_id: int) -> None:
    """Children of a job winding down that have not followed it yet follow it now, by the system."""
    job = await Job.get_or_none(id=job_id)
    if job is None or job.status not in FOLLOWED:
        return
    if job.status is JobStatus.CANCELING:
        await _cascade(job, Actor.system(job.tenant_id), cancel_job, Operation.CANCEL)
    else:
        await _cascade(job, Actor.system(job.tenant_id), stop_job, Operation.STOP)


async def _cascade(
    job: Job, actor: Actor, verb: Callable[[Actor, int], Awaitable[Job]], operation: Operation
) -> None:
    """Children follow their parent where the same operation is allowed for them."""
    children = await Job.filter(parent_id=job.id).only("id", "status", "system", "stoppable")
    for child in children:
        if (operation, child.status) not in JOB_TRANSITIONS or (child.system and not child.stoppable):
            continue
        try:
            await verb(actor, child.id)
        except (InvalidTransition, NotFound):
            continue  # the child moved on by itself meanwhile


# ---------------------------------------------------------------- worker events


async def mark_running(job_id: int, by: PlatformActor = Actor.worker) -> Job | None:
    """The first chunk started."""
    return await _event(job_id, Operation.CHUNK_STARTED, by)


async def start_running(job: Job) -> None:
    """The first chunk of ``job``, as read when it was claimed, started: the job moves to
    RUNNING if that is still legal, and ``job`` is read again either way."""
    await _try_transition(job, Operation.CHUNK_STARTED, Actor.worker(job.tenant_id))


async def mark_waiting(job_id: int, by: PlatformActor = Actor.worker) -> Job | None:
    return await _event(job_id, Operation.ALL_WAITING, by)


async def mark_drained(job_id: int, by: PlatformActor = Actor.worker) -> Job | None:
    """Nothing is in flight any more after a stop or cancel request.

    A non-stoppable type asked to stop keeps working until it finishes or fails,
    so running dry between two chunks does not stop it.
    """
    job = await Job.get_or_none(id=job_id)
    if job is None or (job.status is JobStatus.STOPPING and not job.stoppable):
        return None
    return await _try_transition(job, Operation.DRAINED, by(job.tenant_id), effect=_after_drain)


async def finish_job(job_id: int, by: PlatformActor = Actor.worker) -> Job | None:
    """All chunks and children are done: FINISHED with an outcome (CANCELED if it was canceling)."""
    return await _event(job_id, Operation.WORK_DONE, by, effect=_set_outcome)


async def fail_job(job_id: int, error: str, by: PlatformActor = Actor.worker) -> Job | None:
    return await _event(
        job_id, Operation.RUN_FAILED, by, effect=_give_up_chunks, updates={"error": error[:10_000]}
    )


async def _event(
    job_id: int, operation: Operation, by: PlatformActor, *, effect: Effect | None = None, updates: dict | None = None
) -> Job | None:
    """Apply an event the work reported (``by`` a worker, or the system watching it) if it is
    legal now; None if the job is gone or moved on."""
    job = await Job.get_or_none(id=job_id)
    if job is None:
        return None
    return await _try_transition(job, operation, by(job.tenant_id), effect=effect, updates=updates)


async def _try_transition(job: Job, operation: Operation, actor: Actor, **kwargs: Any) -> Job | None:
    try:
        return await _transition(job, operation, actor, **kwargs)
    except InvalidTransition:
        return None


# ---------------------------------------------------------------- the guarded update


async def _transition(
    job: Job,
    operation: Operation,
    actor: Actor,
    *,
    effect: Effect | None = None,
    updates: dict | None = None,
    check: Callable[[Job], None] | None = None,
) -> Job:
    """``check`` refuses by raising; it runs again on every re-read, like ``check_transition``."""
    for _ in range(MAX_RACES):
        if check is not None:
            check(job)
        target = check_transition(job.status, operation)
        changes = {**_timestamps(job, target), **(updates or {})}
        async with db.transaction():
            moved = await Job.filter(id=job.id, status=job.status).update(
                status=target, seq=F("seq") + 1, **changes
            )
            if moved:
                source, ended_before = job.status, job.ended_at
                await job.refresh_from_db()
                # A stopped job that moves on leaves the bucket it ended in.
                await forget(ended_before)
                if effect is not None:
                    await effect(job)
                if target in TERMINAL:
                    await settle(job)
                await write_logs([transition_line(job, source, operation, actor)])
                await _record_event(job, EventKind.STATUS_CHANGED, source, job.status, actor, operation)
                return job
        await job.refresh_from_db()
    raise InvalidTransition(job.status.value, operation.value, "the job kept changing; try again")


def _timestamps(job: Job, target: JobStatus) -> dict[str, Any]:
    now = utcnow()
    if target is JobStatus.RUNNING and job.started_at is None:
        return {"started_at": now}
    if target in TERMINAL or target is JobStatus.STOPPED:
        return {"ended_at": now}
    if target is JobStatus.PENDING:
        return {"ended_at": None}
    return {}


async def _mark(
    job: Job, actor: Actor, kind: EventKind, *, refused_once_ended: str | None = None, **changes: Any
) -> Job:
    """A change that is not a status move (priority, hidden), still sequenced as an event.

    ``refused_once_ended``: the operation, refused (INVALID_TRANSITION) once the job
    ended; the guarded update checks it, so a job ending meanwhile is refused too.
    """
    async with db.transaction():
        marked = Job.filter(id=job.id)
        if refused_once_ended is not None:
            marked = marked.exclude(status__in=list(TERMINAL))
        updated = await marked.update(seq=F("seq") + 1, **changes)
        await job.refresh_from_db()
        if not updated:
            raise _ended(job, refused_once_ended or kind.value)
        await _record_event(job, kind, job.status, job.status, actor, data=changes)
    return job


async def _record_event(
    job: Job,
    kind: EventKind,
    source: JobStatus | None,
    target: JobStatus,
    actor: Actor,
    operation: Operation | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Record the event; the last statement of the transaction that makes the change.

    The tenant's next number is taken by raising its counter, and the row stays locked
    until the transaction commits: a tenant's events commit one at a time in the order of
    their numbers (on SQLite every transaction writes alone anyway), so a reader that sees
    one number sees every lower one too. Taken last, the lock lasts an insert and the commit.
    """
    payload = dict(data or {})
    if operation is not None:
        payload[OPERATION] = operation.value
    [numbered] = await db.fetch(
        "UPDATE tenant SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq", [job.tenant_id]
    )
    await JobEvent.create(
        job_id=job.id,
        seq=job.seq,
        tenant_id=job.tenant_id,
        tenant_seq=numbered["event_seq"],
        kind=kind.value,
        from_status=source,
        to_status=target,
        actor=actor.name,
        actor_kind=actor.kind,
        actor_principal_id=actor.principal_id,
        at=utcnow(),
        data=payload,
    )


# ---------------------------------------------------------------- effects on chunks and records


async def _stop_idle_chunks(job: Job) -> None:
    if job.status is JobStatus.STOPPED:
        await chunks.stop_idle(job.id)


async def _after_drain(job: Job) -> None:
    await _stop_idle_chunks(job)
    await _discard_if_canceled(job)


async def _reopen_stopped_chunks(job: Job) -> None:
    await chunks.resume(job.id)


async def _discard_if_canceled(job: Job) -> None:
    if job.status is JobStatus.CANCELED:
        await chunks.cancel_open(job.id, job.ended_at)


async def _give_up_chunks(job: Job) -> None:
    if job.status is JobStatus.FAILED:
        await chunks.fail_open(job.id, job.ended_at)
    await _discard_if_canceled(job)


async def _interrupt_in_flight(job: Job) -> None:
    await chunks.force_stop(job.id)


async def _set_outcome(job: Job) -> None:
    if job.status is not JobStatus.FINISHED:
        await _discard_if_canceled(job)
        return
    if await Chunk.filter(job_id=job.id).exclude(status=ChunkStatus.COMPLETED).exists():
        outcome = JobOutcome.INCOMPLETE
    elif job.failed:
        outcome = JobOutcome.WITH_ERRORS
    else:
        outcome = JobOutcome.SUCCEEDED
    await Job.filter(id=job.id).update(outcome=outcome)
    job.outcome = outcome
