"""``renewal_reminders``: reminds the owners of subscriptions that renew soon.

Per subscription due within ``daysAhead``: ``load`` it (those that renew by
themselves on a valid card need no reminder and are skipped), ``compose`` the
reminder, ``send`` it. A seeded share of reminders bounces.

Every reminder is one record of this job; starting a child job per
subscription would only multiply jobs, so this type starts none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from domain.clock import utcnow
from domain.registry import JobType, RecordContext, SkipRecord, Step, registry
from jobtower.job_types.simulated import (
    LATENCY_SCHEMA,
    RATE_SCHEMA,
    fraction,
    latency,
    seeded,
    stable_id,
    with_defaults,
)

PLANS = ("starter", "team", "business")

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "subscriptions": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 400},
        "daysAhead": {"type": "integer", "minimum": 1, "maximum": 90, "default": 14},
        "autoRenewRate": {
            **RATE_SCHEMA,
            "default": 0.6,
            "description": "Share of subscriptions that renew by themselves; they are skipped.",
        },
        "failRate": {**RATE_SCHEMA, "default": 0.01, "description": "Share of reminders that bounce."},
        "latencyScale": {**LATENCY_SCHEMA, "default": 1},
    },
    "additionalProperties": False,
}


class ReminderBounced(Exception):
    """The owner's address refused the reminder."""


def renews_by_itself(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["autoRenewRate"], "auto-renew")


def bounces(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["failRate"], "bounce")


async def due_subscriptions(params: Mapping[str, Any]) -> AsyncIterator[str]:
    for number in range(with_defaults(params, PARAMS_SCHEMA)["subscriptions"]):
        yield f"sub-{number:07d}"


async def load(context: RecordContext) -> None:
    await latency(context.params, context.key, 8, "load")
    if renews_by_itself(context.key, context.params):
        raise SkipRecord("renews automatically on a valid card")
    days_ahead = with_defaults(context.params, PARAMS_SCHEMA)["daysAhead"]
    renews_on = utcnow().date() + timedelta(days=1 + int(fraction(context.key, "due") * days_ahead))
    plan = PLANS[int(fraction(context.key, "plan") * len(PLANS))]
    context.state.update(renews_on=renews_on.isoformat(), plan=plan)
    context.set_detail({"plan": plan, "renewsOn": renews_on.isoformat()})


async def compose(context: RecordContext) -> None:
    await latency(context.params, context.key, 3, "compose")
    context.state["subject"] = (
        f"Your {context.state['plan']} plan renews on {context.state['renews_on']}"
    )


async def send(context: RecordContext) -> None:
    await latency(context.params, context.key, 6, "send")
    if bounces(context.key, context.params):
        raise ReminderBounced(f"the owner of {context.key} has no deliverable address")
    context.set_detail({"subject": context.state["subject"], "messageId": stable_id(context.key, "reminder")})


RENEWAL_REMINDERS = registry.register(
    JobType(
        name="renewal_reminders",
        label="Renewal reminders",
        description="Reminds the owners of subscriptions that renew soon.",
        enumerate=due_subscriptions,
        steps=(Step("load", load), Step("compose", compose), Step("send", send)),
        default_chunk_size=200,
        record_concurrency=8,
        estimate_records=lambda params: with_defaults(params, PARAMS_SCHEMA)["subscriptions"],
        params_schema=PARAMS_SCHEMA,
    )
)
