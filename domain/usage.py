"""Plan usage: what a tenant used of its monthly limits, and what its running jobs hold.

Admission counts the job and reserves the records its params will produce in one
guarded update (``reserve``), so admissions racing for the last records of the
month cannot both pass. The job keeps its reservation while it runs, waits or
stops; when it ends (FINISHED, FAILED, CANCELED) ``settle`` turns what it
processed into used records and gives the rest back. A job's records count in
the month it was admitted in.

Above every plan, the platform's ``ceilings`` bound what one tenant may start, so
that no tenant, limited or not, starts work that crowds out the others: the
records one job may ask for, and the root jobs admitted per minute (counted in
the same guarded way, on the month's row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import F, Q

from domain.access import Actor
from domain.clock import month_of, utcnow
from domain.errors import PlanLimitExceeded
from domain.models import Job, PlanUsage, Tenant


@dataclass
class Ceilings:
    # The most records one job may ask for at admission, whatever the tenant's plan.
    records_per_job: int = 1_000_000
    # The most root jobs (started by a principal or a schedule, not spawned by a running job)
    # one tenant may have admitted per minute.
    jobs_per_minute: int = 600


# Each process sets them once from its settings (``configure_ceilings``).
ceilings = Ceilings()


def configure_ceilings(records_per_job: int, jobs_per_minute: int) -> None:
    ceilings.records_per_job = records_per_job
    ceilings.jobs_per_minute = jobs_per_minute


@dataclass(frozen=True)
class UsageReport:
    month: str
    jobs_used: int
    jobs_limit: int | None
    records_used: int
    # Held by the jobs admitted this month that have not ended.
    records_reserved: int
    records_limit: int | None


async def plan_usage(actor: Actor) -> UsageReport:
    return await tenant_usage(await Tenant.get(id=actor.tenant_id))


async def tenant_usage(tenant: Tenant) -> UsageReport:
    month = month_of(utcnow())
    usage = await PlanUsage.get_or_none(tenant_id=tenant.id, month=month)
    return UsageReport(
        month=month,
        jobs_used=usage.jobs_used if usage else 0,
        jobs_limit=tenant.jobs_per_month,
        records_used=usage.records_used if usage else 0,
        records_reserved=usage.records_reserved if usage else 0,
        records_limit=tenant.records_per_month,
    )


async def reserve(tenant: Tenant, at: datetime, records: int | None, *, root: bool) -> None:
    """Count one more job for the month of ``at`` and hold ``records`` for it; ``PlanLimitExceeded``
    when a limit of the plan or a ceiling of the platform would be passed. Call it in the
    transaction that creates the job.

    ``records`` is None when the job type cannot tell: such a job holds nothing and
    is admitted while the month has any record left. A ``root`` job also counts against the
    jobs per minute.
    """
    if records is not None and records > ceilings.records_per_job:
        raise PlanLimitExceeded(
            "recordsPerJob",
            ceilings.records_per_job,
            0,
            records,
            f"a job may process at most {ceilings.records_per_job} records; {records} requested",
        )
    month = month_of(at)
    requested = records or 0
    usage = PlanUsage.filter(tenant_id=tenant.id, month=month)
    if tenant.jobs_per_month is not None:
        usage = usage.filter(jobs_used__lt=tenant.jobs_per_month)
    if tenant.records_per_month is not None:
        usage = usage.annotate(committed=F("records_used") + F("records_reserved"))
        if records is None:
            usage = usage.filter(committed__lt=tenant.records_per_month)
        else:
            usage = usage.filter(committed__lte=tenant.records_per_month - requested)
    # The guarded update is the reservation: a racer that lost waits on the row,
    # then finds the condition false and updates nothing.
    reserving = {"jobs_used": F("jobs_used") + 1, "records_reserved": F("records_reserved") + requested}
    reserved = await usage.update(**reserving)
    if not reserved and not await PlanUsage.exists(tenant_id=tenant.id, month=month):
        # The month's first job makes the month's row.
        await PlanUsage.bulk_create([PlanUsage(tenant_id=tenant.id, month=month)], ignore_conflicts=True)
        reserved = await usage.update(**reserving)
    if reserved:
        if root:
            await _count_in_minute(tenant, month, at.replace(second=0, microsecond=0))
        return
    current = await PlanUsage.get(tenant_id=tenant.id, month=month)
    if tenant.jobs_per_month is not None and current.jobs_used >= tenant.jobs_per_month:
        raise PlanLimitExceeded("jobs", tenant.jobs_per_month, current.jobs_used, 1)
    committed = current.records_used + current.records_reserved
    raise PlanLimitExceeded("records", tenant.records_per_month or 0, committed, requested)


async def _count_in_minute(tenant: Tenant, month: str, minute: datetime) -> None:
    """One more root job in ``minute``, or ``PlanLimitExceeded`` past the ceiling. The caller's
    transaction holds the month's row (its update above), so racers count one after another."""
    row = PlanUsage.filter(tenant_id=tenant.id, month=month)
    limit = ceilings.jobs_per_minute
    if await row.filter(minute_start=minute, minute_jobs__lt=limit).update(minute_jobs=F("minute_jobs") + 1):
        return
    if limit > 0 and await row.filter(Q(minute_start__isnull=True) | Q(minute_start__lt=minute)).update(
        minute_start=minute, minute_jobs=1
    ):
        return
    raise PlanLimitExceeded(
        "jobsPerMinute",
        limit,
        limit,
        1,
        f"at most {limit} jobs may start per minute; try again in {60 - utcnow().second} s",
    )


async def settle(job: Job) -> None:
    """The job ended: the records it processed are used, its whole reservation given back.

    Runs in the transaction of the job's one move to an end, so it runs once per job.
    """
    processed = job.succeeded + job.failed + job.skipped
    await PlanUsage.filter(tenant_id=job.tenant_id, month=month_of(job.created_at)).update(
        records_used=F("records_used") + processed,
        records_reserved=F("records_reserved") - job.records_reserved,
    )
    await Job.filter(id=job.id).update(records_reserved=0)
    job.records_reserved = 0
