"""``ledger_close``: closes a month's books, account by account; once started it runs to the end.

Per account of the chart: ``reconcile`` its balance with the bank and the
sub-ledgers, ``post`` the closing entries, ``lock`` it for the period. A
half-closed period (some accounts locked, others still taking postings) is
worse than either state, so the type cannot be stopped: asked to stop, the job
stays STOPPING while it works on, then FINISHES (only a force stop cuts it
short). A seeded share of accounts shows a difference nobody explained: their
record fails and the account stays open for an accountant to look at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any

from domain.clock import utcnow
from domain.registry import JobType, RecordContext, Step, registry
from jobtower.job_types.simulated import (
    LATENCY_SCHEMA,
    RATE_SCHEMA,
    fraction,
    latency,
    seeded,
    stable_id,
    with_defaults,
)

# Chart of accounts: the first digit of an account's code says which kind it is.
KINDS = ("assets", "liabilities", "equity", "revenue", "expenses")

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "period": {
            "type": "string",
            "pattern": r"^\d{4}-(0[1-9]|1[0-2])$",
            "description": "The month to close, YYYY-MM; the month before this one (UTC) when not given.",
        },
        "accounts": {"type": "integer", "minimum": 0, "maximum": 50_000, "default": 180},
        "failRate": {
            **RATE_SCHEMA,
            "default": 0.02,
            "description": "Share of accounts with an unexplained difference; they stay open.",
        },
        "latencyScale": {**LATENCY_SCHEMA, "default": 1},
    },
    "additionalProperties": False,
}


class UnreconciledDifference(Exception):
    """The account's balance differs from the bank's and nobody booked why."""


def unreconciled(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["failRate"], "difference")


def period_of(params: Mapping[str, Any]) -> str:
    if period := params.get("period"):
        return period
    first_of_this_month = utcnow().date().replace(day=1)
    last_month = date.fromordinal(first_of_this_month.toordinal() - 1)
    return f"{last_month:%Y-%m}"


async def chart_of_accounts(params: Mapping[str, Any]) -> AsyncIterator[str]:
    period = period_of(params)
    accounts = with_defaults(params, PARAMS_SCHEMA)["accounts"]
    for number in range(accounts):
        kind = number * len(KINDS) // max(accounts, 1)
        yield f"{period}/{kind + 1}{number:05d}"


def _cents(key: str, salt: str) -> int:
    return int(fraction(key, salt) * 50_000_000)


async def reconcile(context: RecordContext) -> None:
    await latency(context.params, context.key, 15, "reconcile")
    balance = _cents(context.key, "balance")
    if unreconciled(context.key, context.params):
        difference = 1 + _cents(context.key, "difference") % 100_000
        raise UnreconciledDifference(
            f"account {context.key.rsplit('/', 1)[-1]} is off by {difference / 100:.2f} against the bank"
        )
    context.state["balance"] = balance
    context.set_detail({"balance": balance / 100})


async def post(context: RecordContext) -> None:
    await latency(context.params, context.key, 8, "post")
    account = context.key.rsplit("/", 1)[-1]
    kind = KINDS[int(account[0]) - 1]
    # Revenue and expenses close into retained earnings; balance-sheet accounts carry forward.
    entries = 2 if kind in ("revenue", "expenses") else 1
    context.set_detail({"kind": kind, "entries": entries, "journalId": stable_id(context.key, "journal")})


async def lock(context: RecordContext) -> None:
    await latency(context.params, context.key, 2, "lock")
    context.set_detail({"lockedFor": context.key.split("/", 1)[0]})


LEDGER_CLOSE = registry.register(
    JobType(
        name="ledger_close",
        label="Ledger close",
        description="Closes a month's books account by account; once started it cannot be stopped midway.",
        enumerate=chart_of_accounts,
        steps=(Step("reconcile", reconcile), Step("post", post), Step("lock", lock)),
        stoppable=False,
        not_stoppable_reason="A half-closed month would leave the books inconsistent: asked to stop,"
        " it closes every account first, then finishes.",
        default_chunk_size=50,
        record_concurrency=4,
        estimate_records=lambda params: with_defaults(params, PARAMS_SCHEMA)["accounts"],
        params_schema=PARAMS_SCHEMA,
    )
)
