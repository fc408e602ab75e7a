"""``contact_sync``: copies the contacts of a CRM list into the workspace, in chunks.

Per contact: ``fetch`` it from the CRM (contacts unchanged since the last sync
are skipped), ``transform`` it to the workspace's shape, ``upsert`` it: one bulk
upsert for up to 500 contacts (a batch step). A seeded share of contacts is
rejected by the upsert (an invalid address), the same contacts on every run;
the others of the same upsert are written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from domain.registry import JobType, RecordContext, SkipRecord, Step, registry
from jobtower.job_types.simulated import (
    LATENCY_SCHEMA,
    RATE_SCHEMA,
    fraction,
    latency,
    seeded,
    with_defaults,
)

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "list": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "default": "newsletter",
            "description": "The CRM list whose contacts are synced.",
        },
        "contacts": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 500},
        "unchangedRate": {
            **RATE_SCHEMA,
            "default": 0.3,
            "description": "Share of contacts unchanged since the last sync; they are skipped.",
        },
        "failRate": {
            **RATE_SCHEMA,
            "default": 0.01,
            "description": "Share of contacts the upsert rejects.",
        },
        "latencyScale": {**LATENCY_SCHEMA, "default": 1},
    },
    "additionalProperties": False,
}


# Contacts one bulk upsert writes.
UPSERT_BATCH = 500


class ContactRejected(Exception):
    """The workspace refused the contact; retrying does not help."""


def unchanged(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["unchangedRate"], "unchanged")


def rejected(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["failRate"], "rejected")


async def contact_keys(params: Mapping[str, Any]) -> AsyncIterator[str]:
    options = with_defaults(params, PARAMS_SCHEMA)
    for number in range(options["contacts"]):
        yield f"{options['list']}/contact-{number:07d}"


async def fetch(context: RecordContext) -> None:
    await latency(context.params, context.key, 12, "fetch")
    if unchanged(context.key, context.params):
        raise SkipRecord("unchanged since the last sync")
    number = context.key.rsplit("-", 1)[-1]
    context.state["contact"] = {
        "crmId": number,
        "email": f" Contact.{number}@Example.COM ",
        "phone": f"+1 (555) {number[-7:-4]}-{number[-4:]}",
        "lifecycle": "customer" if fraction(context.key, "lifecycle") < 0.4 else "lead",
    }
    context.set_detail({"crmId": number})


async def transform(context: RecordContext) -> None:
    await latency(context.params, context.key, 1, "transform")
    contact = context.state["contact"]
    context.state["row"] = {
        "externalId": contact["crmId"],
        "email": contact["email"].strip().lower(),
        "phone": "".join(ch for ch in contact["phone"] if ch.isdigit() or ch == "+"),
        "stage": contact["lifecycle"],
    }


async def upsert(contexts: Sequence[RecordContext]) -> None:
    first = contexts[0]
    # One round trip, and a little more for each row it carries.
    await latency(first.params, first.key, 6 + 0.05 * len(contexts), "upsert")
    for context in contexts:
        row = context.state["row"]
        if rejected(context.key, context.params):
            context.fail(ContactRejected(f"{row['email']} is not a deliverable address"))
            continue
        created = fraction(context.key, "new") < 0.2
        context.set_detail(
            {"action": "created" if created else "updated", "email": row["email"], "batch": len(contexts)}
        )


CONTACT_SYNC = registry.register(
    JobType(
        name="contact_sync",
        label="Contact sync",
        description="Syncs the contacts of a CRM list into the workspace.",
        enumerate=contact_keys,
        steps=(
            Step("fetch", fetch, retries=2),
            Step("transform", transform),
            Step("upsert", run_batch=upsert, batch_size=UPSERT_BATCH),
        ),
        default_chunk_size=200,
        # The CRM and the database answer slowly; several contacts of a chunk wait at once.
        record_concurrency=8,
        estimate_records=lambda params: with_defaults(params, PARAMS_SCHEMA)["contacts"],
        params_schema=PARAMS_SCHEMA,
    )
)
