"""Plan usage: what a tenant used of its monthly limits, and what its running jobs hold.

Admission counts the job and reserves the records its params will produce in one
guarded update (``reserve``), so admissions racing for the last records of the
month cannot both pass. The job keeps its reservation while it runs, waits or
stops; when it ends (FINISHED, FAILED, CANCELED) ``settle`` turns what it
processed into used records and gives the rest back. A job's records count in
the month it was admitted in.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import F

from domain.access import Actor
from domain.clock import month_of, utcnow
from domain.errors import PlanLimitExceeded
from domain.models import Job, PlanUsage, Tenant


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


async def reserve(tenant: Tenant, month: str, records: int | None) -> None:
    """Count one more job for ``month`` and hold ``records`` for it; ``PlanLimitExceeded``
    when either limit would be passed. Call it in the transaction that creates the job.

    ``records`` is None when the job type cannot tell: such a job holds nothing and
    is admitted while the month has any record left.
    """
    await PlanUsage.bulk_create([PlanUsage(tenant_id=tenant.id, month=month)], ignore_conflicts=True)
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
    if await usage.update(jobs_used=F("jobs_used") + 1, records_reserved=F("records_reserved") + requested):
        return
    current = await PlanUsage.get(tenant_id=tenant.id, month=month)
    if tenant.jobs_per_month is not None and current.jobs_used >= tenant.jobs_per_month:
        raise PlanLimitExceeded("jobs", tenant.jobs_per_month, current.jobs_used, 1)
    committed = current.records_used + current.records_reserved
    raise PlanLimitExceeded("records", tenant.records_per_month or 0, committed, requested)


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
