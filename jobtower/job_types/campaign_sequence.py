"""``campaign_sequence``: a multi-touch sequence for a cohort; each touch sends through a child job.

A sequence (onboarding, trial follow-ups, win-back) is a fixed list of touches,
one record each: ``audience`` counts who the touch goes to (the cohort, less a
seeded share that converted or unsubscribed after each earlier touch; a touch
left with nobody is skipped), ``send`` starts a ``bulk_message_send`` child job
for them on the touch's channel. The sequence finishes after its children, and
its ``childrenProgress`` is their sends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from domain.registry import JobType, RecordContext, SkipRecord, Step, registry
from jobtower.job_types.simulated import LATENCY_PARAM, LATENCY_SCHEMA, RATE_SCHEMA, latency, with_defaults

# Sequence -> its touches in order: (touch, channel).
SEQUENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "onboarding": (
        ("welcome", "email"),
        ("getting-started", "email"),
        ("first-project-tips", "email"),
        ("check-in", "push"),
    ),
    "trial-follow-up": (("trial-halfway", "email"), ("trial-ends-soon", "email"), ("trial-ended", "sms")),
    "win-back": (("we-miss-you", "email"), ("comeback-offer", "email"), ("last-chance", "sms")),
}
SEND_TYPE = "bulk_message_send"

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "sequence": {"enum": sorted(SEQUENCES), "default": "onboarding"},
        "cohort": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "default": "new-signups",
            "description": "Who the sequence is for, e.g. last week's signups.",
        },
        "contacts": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 200},
        "dropOffRate": {
            **RATE_SCHEMA,
            "default": 0.25,
            "description": "Share of the audience that converts or unsubscribes after each touch.",
        },
        "latencyScale": {
            **LATENCY_SCHEMA,
            "default": 1,
            "description": "Multiplies the simulated latencies, the child jobs' too; 0 makes every step instant.",
        },
    },
    "additionalProperties": False,
}


def touches_of(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return SEQUENCES[with_defaults(params, PARAMS_SCHEMA)["sequence"]]


def audience_of(params: Mapping[str, Any], touch_index: int) -> int:
    """How many contacts the touch at ``touch_index`` (0, 1, …) goes to."""
    options = with_defaults(params, PARAMS_SCHEMA)
    audience = options["contacts"]
    for _ in range(touch_index):
        audience -= round(audience * options["dropOffRate"])
    return audience


def touch_index(key: str) -> int:
    """0 for a sequence's first touch; keys end in ``/<number>-<touch>``, the number from 1."""
    return int(key.rsplit("/", 1)[1].split("-", 1)[0]) - 1


async def touch_keys(params: Mapping[str, Any]) -> AsyncIterator[str]:
    options = with_defaults(params, PARAMS_SCHEMA)
    for index, (touch, _) in enumerate(touches_of(params)):
        yield f"{options['sequence']}/{options['cohort']}/{index + 1}-{touch}"


async def audience(context: RecordContext) -> None:
    await latency(context.params, context.key, 20, "audience")
    contacts = audience_of(context.params, touch_index(context.key))
    if not contacts:
        raise SkipRecord("nobody left in the cohort for this touch")
    context.state["contacts"] = contacts
    context.set_detail({"contacts": contacts})


async def send(context: RecordContext) -> None:
    await latency(context.params, context.key, 5, "send")
    options = with_defaults(context.params, PARAMS_SCHEMA)
    touch, channel = touches_of(context.params)[touch_index(context.key)]
    contacts = context.state["contacts"]
    child = await context.spawn_child(
        SEND_TYPE,
        {"channel": channel, "messages": contacts, LATENCY_PARAM: options[LATENCY_PARAM]},
        name=f"{options['cohort']}: {touch} ({channel})",
    )
    context.set_detail({"childJobId": child, "channel": channel, "messages": contacts})


CAMPAIGN_SEQUENCE = registry.register(
    JobType(
        name="campaign_sequence",
        label="Campaign sequence",
        description="Runs a sequence of touches for a cohort; each touch sends through a child job.",
        enumerate=touch_keys,
        steps=(Step("audience", audience), Step("send", send)),
        # A handful of touches: one chunk, prepared side by side.
        default_chunk_size=10,
        record_concurrency=4,
        estimate_records=lambda params: len(touches_of(params)),
        params_schema=PARAMS_SCHEMA,
    )
)
