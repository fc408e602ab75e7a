"""Bulk operations: one job verb applied to many jobs, in the background.

Starting one only chooses its jobs, its targets, and returns: the ids given, or
the jobs a ``JobListFilter`` shows at that moment, copied by one ``INSERT …
SELECT``, so a job created later is never touched however long the run takes. A
runner (``workers.bulk``) then takes the targets in batches. Each target is one
short transaction that applies the verb and records the result and the
operation's counters: wherever a run stops (its worker killed, the operation
canceled), every target is either done, with its result, or untouched, and the
next run continues with the untouched ones, never applying the action twice.

Each job goes through the very verb of the single mutation (``domain.jobs``),
acting as the principal who started the operation, with the role that principal
has when a run takes the operation up: roles, transitions and tenant isolation
are the verb's own, and a refusal (NOT_FOUND, FORBIDDEN, INVALID_TRANSITION, …)
is that job's result, not the operation's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.expressions import F, Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from domain import db, jobs
from domain.access import Actor, Role
from domain.clock import utcnow
from domain.errors import InvalidInput, JobtowerError, NotFound
from domain.listing import JobListFilter, Page, decode_key, filtered_jobs, key_cursor, page_size
from domain.models import BulkOperation, BulkTarget, Job, Principal
from domain.statuses import (
    BULK_OPEN,
    BulkAction,
    BulkMove,
    BulkOperationStatus,
    BulkTargetStatus,
    bulk_sources,
    bulk_target,
    check_bulk_transition,
)
from domain.tenants import actor_of

log = logging.getLogger(__name__)

# Ids fit in one request; more jobs than that are chosen with a filter.
MAX_IDS = 1000
# Choosing 100,000 jobs took 1-4 s here: the bound keeps the mutation's one statement short.
MAX_FILTERED = 250_000
# A target whose transaction the database rolled back over a conflict runs again this often.
MAX_CONFLICTS = 5
INTERNAL_ERROR = "INTERNAL_ERROR"

Verb = Callable[[Actor, int], Awaitable[Job]]


@dataclass(frozen=True)
class ActionRule:
    # Starting (or canceling) the operation needs the role its verb needs for each job.
    role: Role
    verb: Verb
    # What the verb refuses by a job's row (raises); None: it refuses no job the actor sees.
    check: Callable[[Job], None] | None = None
    # The jobs it may change at all, for a condition beyond the job's row.
    narrow: Callable[[QuerySet[Job]], QuerySet[Job]] | None = None


def _priority(low_priority: bool) -> Verb:
    async def verb(actor: Actor, job_id: int) -> Job:
        return await jobs.set_job_low_priority(actor, job_id, low_priority)

    return verb


ACTIONS: dict[BulkAction, ActionRule] = {
    BulkAction.STOP: ActionRule(Role.OPERATOR, jobs.stop_job, jobs.check_stop),
    BulkAction.RESUME: ActionRule(Role.OPERATOR, jobs.resume_job, jobs.check_resume),
    BulkAction.CANCEL: ActionRule(Role.OPERATOR, jobs.cancel_job, jobs.check_cancel),
    BulkAction.RETRY_FAILED_RECORDS: ActionRule(
        Role.OPERATOR, jobs.retry_failed_records, jobs.check_retry_failed, jobs.with_retryable_records
    ),
    BulkAction.SET_LOW_PRIORITY: ActionRule(Role.ADMIN, _priority(True), jobs.check_not_ended),
    BulkAction.REMOVE_LOW_PRIORITY: ActionRule(Role.ADMIN, _priority(False), jobs.check_not_ended),
    BulkAction.HIDE: ActionRule(Role.OPERATOR, jobs.hide_job),
    BulkAction.UNHIDE: ActionRule(Role.ADMIN, jobs.unhide_job, jobs.check_unhide),
}


# ---------------------------------------------------------------- reading


def visible_operations(actor: Actor) -> QuerySet[BulkOperation]:
    """The operations started in the actor's tenant; every tenant's for the platform."""
    operations = BulkOperation.all()
    return operations if actor.is_platform else operations.filter(tenant_id=actor.tenant_id)


def can_see_operation(actor: Actor, operation: BulkOperation) -> bool:
    return actor.sees_tenant(operation.tenant_id)


async def get_bulk_operation(actor: Actor, operation_id: int) -> BulkOperation:
    operation = await visible_operations(actor).get_or_none(id=operation_id)
    if operation is None:
        raise NotFound("bulk operation", operation_id)
    return operation


@dataclass
class OperationPage:
    page: Page[BulkOperation]
    listed: Any

    async def total_count(self) -> int:
        return await self.listed.count()


async def list_bulk_operations(actor: Actor, first: int | None = None, after: str | None = None) -> OperationPage:
    """Newest first."""
    size = page_size(first)
    listed = visible_operations(actor)
    position = decode_key(after, "BulkOperation")
    page = listed if position is None else listed.filter(id__lt=position)
    rows = await page.order_by("-id").limit(size + 1)
    items = rows[:size]
    return OperationPage(
        page=Page(
            items=items, cursors=[key_cursor("BulkOperation", row.id) for row in items], has_next=len(rows) > size
        ),
        listed=listed,
    )


# ---------------------------------------------------------------- before starting


@dataclass(frozen=True)
class BulkPreview:
    total: int  # the jobs the operation would choose now
    eligible: int  # those of them the action's verb would change now; the others would be its errors


# The job's columns the verbs' checks read: the jobs are counted once per combination of them.
_CHECKED = ("status", "system", "stoppable", "restartable", "hidden")


async def preview_bulk_operation(
    actor: Actor, action: BulkAction, *, ids: Sequence[int] | None = None, where: JobListFilter | None = None
) -> BulkPreview:
    """What ``start_bulk_operation`` with the same input would choose, and how many of those jobs
    its action may change now, by the checks its verb runs; refused exactly as the start is."""
    rule = ACTIONS[action]
    chosen = _chosen(actor, action, ids, where)
    if isinstance(chosen, list):
        total, candidates = len(chosen), jobs.visible_jobs(actor).filter(id__in=chosen)
    else:
        total, candidates = await chosen.count(), chosen
    if rule.narrow is not None:
        candidates = rule.narrow(candidates)
    groups = (
        await candidates.annotate(jobs=Count("id")).group_by(*_CHECKED).values(*_CHECKED, "jobs")
    )
    eligible = sum(group["jobs"] for group in groups if _passes(rule, group))
    return BulkPreview(total=total, eligible=eligible)


def _passes(rule: ActionRule, columns: dict[str, Any]) -> bool:
    if rule.check is None:
        return True
    job = Job(type="", **{name: columns[name] for name in _CHECKED})
    try:
        rule.check(job)
    except JobtowerError:
        return False
    return True


# ---------------------------------------------------------------- starting and canceling


def _chosen(
    actor: Actor, action: BulkAction, ids: Sequence[int] | None, where: JobListFilter | None
) -> list[int] | QuerySet[Job]:
    """The ids given, or the jobs ``where`` matches; refuses what the start refuses."""
    actor.require(ACTIONS[action].role, f"a bulk {action.value}")
    if (ids is None) == (where is None):
        raise InvalidInput("input", "give either ids or a filter")
    if ids is not None:
        chosen = list(dict.fromkeys(ids))
        if not chosen:
            raise InvalidInput("ids", "must not be empty")
        if len(chosen) > MAX_IDS:
            raise InvalidInput("ids", f"at most {MAX_IDS}; choose more jobs with a filter")
        return chosen
    assert where is not None
    return filtered_jobs(actor, where)  # refuses what the job list refuses, before anything is written


async def start_bulk_operation(
    actor: Actor, action: BulkAction, *, ids: Sequence[int] | None = None, where: JobListFilter | None = None
) -> BulkOperation:
    """An operation over ``ids`` or the jobs ``where`` shows now; nothing is created on refusal.

    Every id given is a target: one the actor may not see (another tenant's, or
    none at all) ends as a NOT_FOUND result, exactly as the single mutation answers
    it. A filter only ever matches what ``jobs(filter:)`` lists for the actor.
    """
    chosen = _chosen(actor, action, ids, where)
    if isinstance(chosen, list):
        return await _create(actor, action, lambda operation: _target_ids(operation, chosen))
    return await _create(actor, action, lambda operation: _target_matching(operation, chosen))


async def _create(
    actor: Actor, action: BulkAction, add_targets: Callable[[BulkOperation], Awaitable[int]]
) -> BulkOperation:
    async with db.transaction():
        operation = await BulkOperation.create(
            tenant_id=actor.tenant_id, action=action, created_by_id=actor.principal_id, total=0
        )
        operation.total = await add_targets(operation)
        await BulkOperation.filter(id=operation.id).update(total=operation.total)
    return operation


async def _target_ids(operation: BulkOperation, job_ids: list[int]) -> int:
    await BulkTarget.bulk_create([BulkTarget(operation_id=operation.id, job_id=job_id) for job_id in job_ids])
    return len(job_ids)


async def _target_matching(operation: BulkOperation, matching: QuerySet[Job]) -> int:
    sql, params = db.compiled(matching.limit(MAX_FILTERED + 1).values("id"))
    # The operation's id and the status are ours, not the client's: written into the SQL,
    # they leave the placeholders of the filter's own parameters as they are.
    await BulkTarget._meta.db.execute_query(
        "INSERT INTO bulk_target (operation_id, job_id, status)"
        f" SELECT {int(operation.id)}, chosen.id, '{BulkTargetStatus.PENDING.value}' FROM ({sql}) AS chosen",
        params,
    )
    total = await BulkTarget.filter(operation_id=operation.id).count()
    if total > MAX_FILTERED:
        raise InvalidInput("filter", f"matches more than {MAX_FILTERED} jobs; narrow it")
    return total


async def cancel_bulk_operation(actor: Actor, operation_id: int) -> BulkOperation:
    """No job is touched after this returns; those done keep what was done to them."""
    operation = await get_bulk_operation(actor, operation_id)
    actor.require(ACTIONS[operation.action].role, f"canceling a bulk {operation.action.value}")
    check_bulk_transition(operation.status, BulkMove.CANCEL)
    # A target's transaction raises the counters only while the operation is RUNNING, so
    # once this update commits no other target can commit a change.
    await BulkOperation.filter(id=operation.id, status__in=bulk_sources(BulkMove.CANCEL)).update(
        status=bulk_target(BulkMove.CANCEL), ended_at=utcnow()
    )
    await operation.refresh_from_db()
    if operation.status is not bulk_target(BulkMove.CANCEL):
        check_bulk_transition(operation.status, BulkMove.CANCEL)  # it completed meanwhile
    return operation


# ---------------------------------------------------------------- the background run


async def operations_to_hand_out(limit: int) -> list[int]:
    """Open operations that no runner holds, oldest first."""
    now = utcnow()
    return await (
        BulkOperation.filter(Q(lease_expires_at=None) | Q(lease_expires_at__lt=now), status__in=list(BULK_OPEN))
        .order_by("id")
        .limit(limit)
        .values_list("id", flat=True)
    )


async def hold_for_hand_out(operation_id: int, ttl: timedelta) -> bool:
    """Mark the operation as handed to the workers, so it is not handed out twice; a runner
    whose lease ran out loses it here."""
    now = utcnow()
    return bool(
        await BulkOperation.filter(
            Q(lease_expires_at=None) | Q(lease_expires_at__lt=now), id=operation_id, status__in=list(BULK_OPEN)
        ).update(lease_owner=None, lease_expires_at=now + ttl)
    )


async def release_hand_outs() -> int:
    """Hand out again every operation handed to the workers and not taken (the broker lost
    its messages)."""
    return await BulkOperation.filter(lease_owner=None, status__in=list(BULK_OPEN)).exclude(
        lease_expires_at=None
    ).update(lease_expires_at=None)


@dataclass(frozen=True)
class BulkRun:
    """An operation a runner holds, and the actor its jobs' verbs act as."""

    operation_id: int
    action: BulkAction
    owner: str
    actor: Actor


async def begin_run(operation_id: int, owner: str, ttl: timedelta) -> BulkRun | None:
    """Take the operation under ``owner``'s lease; None if it ended or another runner has it."""
    now = utcnow()
    taken = await BulkOperation.filter(
        Q(lease_owner=None) | Q(lease_expires_at__lt=now), id=operation_id, status__in=list(BULK_OPEN)
    ).update(lease_owner=owner, lease_expires_at=now + ttl)
    if not taken:
        return None
    await BulkOperation.filter(id=operation_id, status__in=bulk_sources(BulkMove.START)).update(
        status=bulk_target(BulkMove.START), started_at=now
    )
    operation = await BulkOperation.get(id=operation_id)
    creator = await Principal.get(id=operation.created_by_id)
    return BulkRun(operation_id=operation_id, action=operation.action, owner=owner, actor=actor_of(creator))


async def keep_run(run: BulkRun, ttl: timedelta) -> bool:
    """Extend the lease; False when the operation ended or went to another runner."""
    return bool(
        await BulkOperation.filter(
            id=run.operation_id, lease_owner=run.owner, status=BulkOperationStatus.RUNNING
        ).update(lease_expires_at=utcnow() + ttl)
    )


async def next_targets(run: BulkRun, after_job_id: int | None, limit: int) -> list[tuple[int, int]]:
    """(target id, job id) of up to ``limit`` targets not reached yet, in job order."""
    targets = BulkTarget.filter(operation_id=run.operation_id, status=BulkTargetStatus.PENDING)
    if after_job_id is not None:
        targets = targets.filter(job_id__gt=after_job_id)
    return await targets.order_by("job_id").limit(limit).values_list("id", "job_id")


class _AlreadyDone(Exception):
    """Another run recorded this target first: this one's change is rolled back."""


class _Stopped(Exception):
    """The operation is no longer running: this target's change is rolled back."""


async def apply_to_target(run: BulkRun, target_id: int, job_id: int) -> bool:
    """Apply the action to one job and record the result, together; False when the operation
    stopped running (canceled), and then nothing was applied."""
    try:
        await _apply(run, target_id, job_id)
    except _AlreadyDone:
        pass
    except _Stopped:
        return False
    except Exception:
        # Rolled back: the job is left as it was, and the run goes on with the others.
        log.exception("bulk operation %s: job %s failed", run.operation_id, job_id)
        try:
            async with db.transaction():
                await _record(run, target_id, _UNEXPECTED)
        except _AlreadyDone:
            pass
        except _Stopped:
            return False
    return True


async def _apply(run: BulkRun, target_id: int, job_id: int) -> None:
    verb = ACTIONS[run.action].verb
    for attempt in range(1, MAX_CONFLICTS + 1):
        try:
            async with db.transaction():
                try:
                    await verb(run.actor, job_id)
                    result = _SUCCEEDED
                except JobtowerError as refusal:
                    result = {
                        "status": BulkTargetStatus.FAILED,
                        "error_code": refusal.code,
                        "error_message": refusal.message,
                    }
                await _record(run, target_id, result)
            return
        except Exception as error:
            if attempt == MAX_CONFLICTS or not db.is_conflict(error):
                raise


_SUCCEEDED = {"status": BulkTargetStatus.SUCCEEDED}
_UNEXPECTED = {
    "status": BulkTargetStatus.FAILED,
    "error_code": INTERNAL_ERROR,
    "error_message": "internal error: the job was left as it was",
}


async def _record(run: BulkRun, target_id: int, result: dict[str, Any]) -> None:
    if not await BulkTarget.filter(id=target_id, status=BulkTargetStatus.PENDING).update(**result):
        raise _AlreadyDone
    counter = "succeeded" if result["status"] is BulkTargetStatus.SUCCEEDED else "failed"
    # Last in the transaction, so the operation's row is locked for the shortest time.
    counted = await BulkOperation.filter(id=run.operation_id, status=BulkOperationStatus.RUNNING).update(
        done=F("done") + 1, **{counter: F(counter) + 1}
    )
    if not counted:
        raise _Stopped


async def complete_run(run: BulkRun) -> bool:
    """Every target has its result: COMPLETED. False if the operation ended or changed hands."""
    return bool(
        await BulkOperation.filter(
            id=run.operation_id, lease_owner=run.owner, status__in=bulk_sources(BulkMove.COMPLETE)
        ).update(status=bulk_target(BulkMove.COMPLETE), ended_at=utcnow(), lease_owner=None, lease_expires_at=None)
    )


async def release_run(run: BulkRun) -> None:
    """Let go of the operation, so the dispatcher hands it out again at once if it is still open."""
    await BulkOperation.filter(id=run.operation_id, lease_owner=run.owner).update(
        lease_owner=None, lease_expires_at=None
    )
