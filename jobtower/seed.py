"""First start of the embedded default: the ``demo`` tenant, its schedules and an admin token.

Every start runs it; what exists already is left as it is, so a second start
creates nothing new. The admin token is made with the tenant and handed back once, to be
printed; like every API token only its hash is kept, so a later start cannot show it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.access import Actor, PrincipalKind, Role
from domain.models import Schedule, Tenant
from domain.registry import registry
from domain.schedules import create_schedule
from domain.tenants import create_tenant, create_token
from jobtower.settings import settings

DEMO_SLUG = "demo"


@dataclass(frozen=True)
class DemoSchedule:
    name: str
    type: str
    cron: str
    params: dict[str, Any]


def demo_schedules(retention_days: int) -> tuple[DemoSchedule, ...]:
    """The automations a workspace runs (times in UTC)."""
    return (
        DemoSchedule("Daily KPI report", "scheduled_report", "0 7 * * *", {"report": "daily-kpis"}),
        DemoSchedule(
            "Weekly pipeline report", "scheduled_report", "0 8 * * 1",
            {"report": "weekly-pipeline", "recipients": ["sales@example.com"]},
        ),
        DemoSchedule("Daily renewal reminders", "renewal_reminders", "0 9 * * *", {"daysAhead": 14}),
        DemoSchedule(
            "Weekly onboarding sequence", "campaign_sequence", "0 10 * * 1",
            {"sequence": "onboarding", "cohort": "last-weeks-signups"},
        ),
        DemoSchedule(
            "Daily trial follow-ups", "campaign_sequence", "0 11 * * *",
            {"sequence": "trial-follow-up", "cohort": "trials-ending", "contacts": 60},
        ),
        DemoSchedule("Monthly ledger close", "ledger_close", "0 2 1 * *", {}),
        DemoSchedule("Nightly pruning", "system.prune", "30 3 * * *", {"olderThanDays": retention_days}),
    )


async def seed_demo(*, retention_days: int | None = None) -> str | None:
    """The demo admin token when this start created the tenant, else None.

    ``retention_days`` (default: ``settings.retention_days``) is what the nightly
    pruning schedule keeps.
    """
    tenant = await Tenant.get_or_none(slug=DEMO_SLUG)
    token = None
    if tenant is None:
        tenant = await create_tenant(DEMO_SLUG, "Demo")
        token = (await create_token(DEMO_SLUG, Role.ADMIN, "demo admin", kind=PrincipalKind.USER)).token
    await _seed_schedules(tenant, settings.retention_days if retention_days is None else retention_days)
    return token


async def _seed_schedules(tenant: Tenant, retention_days: int) -> None:
    actor = Actor.system(tenant.id)
    for schedule in demo_schedules(retention_days):
        # A deployment may load other job types than the demo catalogue.
        if schedule.type not in registry or await Schedule.exists(tenant_id=tenant.id, name=schedule.name):
            continue
        await create_schedule(actor, schedule.name, schedule.type, schedule.cron, schedule.params)
