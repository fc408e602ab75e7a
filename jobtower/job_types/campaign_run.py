"""``campaign_run``: sends a campaign's message to each contact of its audience.

Per contact: ``segment`` (contacts outside the campaign's segment are
skipped), ``render`` the personalised message, ``approve`` it, ``send`` it.
A seeded share of contacts (key accounts) needs a human's approval: their
record waits until ``completeWait`` answers ``{"approved": true, "by": "maria"}``
(``APPROVAL_ANSWER``; any other payload is refused); ``"approved": false``
skips the contact. Everyone else passes ``approve`` at once, so the job
finishes once the answers are in. A seeded share of sends bounces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from domain.registry import JobType, RecordContext, SkipRecord, Step, WaitForAnswer, registry
from jobtower.job_types.simulated import (
    LATENCY_SCHEMA,
    RATE_SCHEMA,
    fraction,
    latency,
    seeded,
    stable_id,
    with_defaults,
)

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "campaign": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "default": "spring-sale",
        },
        "contacts": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 300},
        "segmentMissRate": {
            **RATE_SCHEMA,
            "default": 0.15,
            "description": "Share of contacts outside the campaign's segment; they are skipped.",
        },
        "approvalRate": {
            **RATE_SCHEMA,
            "default": 0.02,
            "description": "Share of contacts whose message a human approves first.",
        },
        "failRate": {
            **RATE_SCHEMA,
            "default": 0.01,
            "description": "Share of sends that bounce.",
        },
        "latencyScale": {**LATENCY_SCHEMA, "default": 1},
    },
    "additionalProperties": False,
}


# What the approve step waits for: the decision, and who took it.
APPROVAL_ANSWER = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "description": "Send the message, or skip the contact."},
        "by": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Who decided."},
    },
    "required": ["approved", "by"],
    "additionalProperties": False,
}


class MessageBounced(Exception):
    """The recipient's mailbox refused the message."""


def outside_segment(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["segmentMissRate"], "segment")


def needs_approval(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["approvalRate"], "approval")


def bounces(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["failRate"], "bounce")


async def audience(params: Mapping[str, Any]) -> AsyncIterator[str]:
    options = with_defaults(params, PARAMS_SCHEMA)
    for number in range(options["contacts"]):
        yield f"{options['campaign']}/contact-{number:07d}"


async def segment(context: RecordContext) -> None:
    await latency(context.params, context.key, 3, "segment")
    if outside_segment(context.key, context.params):
        raise SkipRecord("not in the campaign's segment")


def _subject(context: RecordContext) -> str:
    campaign = with_defaults(context.params, PARAMS_SCHEMA)["campaign"]
    variant = "A" if fraction(context.key, "variant") < 0.5 else "B"
    return f"{campaign} ({variant}) for {context.key.rsplit('/', 1)[-1]}"


async def render(context: RecordContext) -> None:
    await latency(context.params, context.key, 5, "render")
    context.state["subject"] = _subject(context)
    context.set_detail({"subject": context.state["subject"]})


async def approve(context: RecordContext) -> None:
    if not needs_approval(context.key, context.params):
        return
    answer = context.payload
    if answer is None:
        raise WaitForAnswer("a key account: a human approves the message first")
    # completeWait let through only an APPROVAL_ANSWER.
    if not answer["approved"]:
        raise SkipRecord(f"rejected by {answer['by']}")
    context.set_detail({"approvedBy": answer["by"]})


async def send(context: RecordContext) -> None:
    await latency(context.params, context.key, 10, "send")
    # A record that waited for approval continues in a fresh run, without the rendered state.
    subject = context.state.get("subject") or _subject(context)
    if bounces(context.key, context.params):
        raise MessageBounced("550 mailbox unavailable")
    context.set_detail({"subject": subject, "messageId": stable_id(context.key, "message")})


CAMPAIGN_RUN = registry.register(
    JobType(
        name="campaign_run",
        label="Campaign run",
        description="Runs a campaign over its contacts, with a human approval for key accounts.",
        enumerate=audience,
        steps=(
            Step("segment", segment),
            Step("render", render),
            Step("approve", approve, answer_schema=APPROVAL_ANSWER),
            Step("send", send),
        ),
        default_chunk_size=100,
        record_concurrency=16,
        estimate_records=lambda params: with_defaults(params, PARAMS_SCHEMA)["contacts"],
        params_schema=PARAMS_SCHEMA,
    )
)
