"""``bulk_message_send``: sends one message per recipient through a rate-limited provider.

Per message: ``compose`` it, then ``deliver`` it through the provider. The
provider allows ``ratePerSecond`` sends (enforced per worker process and job)
and now and then answers with a transient error, which the step retries twice;
a seeded share of attempts is transient, so most messages get through on a
retry. A seeded share of recipients is invalid and fails on every attempt.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any

from domain.registry import JobType, RecordContext, Step, registry
from jobtower.job_types.simulated import (
    LATENCY_SCHEMA,
    RATE_SCHEMA,
    latency,
    seeded,
    stable_id,
    with_defaults,
)

DELIVER_RETRIES = 2

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "channel": {"enum": ["sms", "email", "push"], "default": "sms"},
        "messages": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 1000},
        "ratePerSecond": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 100_000,
            "default": 200,
            "description": "The provider's send limit, per worker process.",
        },
        "transientErrorRate": {
            **RATE_SCHEMA,
            "default": 0.05,
            "description": "Share of provider calls that fail transiently and are retried.",
        },
        "failRate": {
            **RATE_SCHEMA,
            "default": 0.005,
            "description": "Share of recipients the provider refuses on every attempt.",
        },
        "latencyScale": {**LATENCY_SCHEMA, "default": 1},
    },
    "additionalProperties": False,
}


class ProviderUnavailable(Exception):
    """The provider answered 503; the same call usually passes a moment later."""


class RecipientRefused(Exception):
    """The provider refuses the recipient for good."""


class RateLimiter:
    """Spaces calls ``1 / per_second`` apart; concurrent callers queue up for their slot."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1 / per_second
        self.next_slot = 0.0

    async def acquire(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


_LIMITERS: OrderedDict[int, RateLimiter] = OrderedDict()
_MAX_LIMITERS = 256


def _limiter(job_id: int, per_second: float) -> RateLimiter:
    limiter = _LIMITERS.pop(job_id, None) or RateLimiter(per_second)
    _LIMITERS[job_id] = limiter
    if len(_LIMITERS) > _MAX_LIMITERS:
        _LIMITERS.popitem(last=False)
    return limiter


def transient_failure(key: str, attempt: int, params: Mapping[str, Any]) -> bool:
    """Whether the provider call number ``attempt`` (1, 2, …) for ``key`` fails transiently."""
    return seeded(f"{key}#{attempt}", with_defaults(params, PARAMS_SCHEMA)["transientErrorRate"], "transient")


def refused(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["failRate"], "refused")


def delivered(key: str, params: Mapping[str, Any]) -> bool:
    """Whether the message to ``key`` gets through within the step's attempts."""
    attempts = range(1, DELIVER_RETRIES + 2)
    return not refused(key, params) and not all(transient_failure(key, n, params) for n in attempts)


async def recipients(params: Mapping[str, Any]) -> AsyncIterator[str]:
    options = with_defaults(params, PARAMS_SCHEMA)
    for number in range(options["messages"]):
        yield f"{options['channel']}:recipient-{number:07d}"


async def compose(context: RecordContext) -> None:
    await latency(context.params, context.key, 1, "compose")
    context.state["body"] = f"Hello {context.key.rsplit('-', 1)[-1]}, your order has shipped."


async def deliver(context: RecordContext) -> None:
    options = with_defaults(context.params, PARAMS_SCHEMA)
    attempt = context.state["attempt"] = context.state.get("attempt", 0) + 1
    await _limiter(context.job_id, options["ratePerSecond"]).acquire()
    await latency(context.params, context.key, 8, f"deliver{attempt}")
    if refused(context.key, context.params):
        raise RecipientRefused(f"{options['channel']} recipient {context.key} is unreachable")
    if transient_failure(context.key, attempt, context.params):
        raise ProviderUnavailable("503 service unavailable; try again")
    context.set_detail({"attempts": attempt, "providerMessageId": stable_id(context.key, "provider")})


BULK_MESSAGE_SEND = registry.register(
    JobType(
        name="bulk_message_send",
        label="Bulk message send",
        description="Sends a message to each recipient through a rate-limited provider.",
        enumerate=recipients,
        steps=(Step("compose", compose), Step("deliver", deliver, retries=DELIVER_RETRIES)),
        default_chunk_size=500,
        record_concurrency=32,
        estimate_records=lambda params: with_defaults(params, PARAMS_SCHEMA)["messages"],
        params_schema=PARAMS_SCHEMA,
    )
)
