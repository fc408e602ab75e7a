"""The demo catalogue as admission sees it: names, flags, params schemas and record estimates."""

from __future__ import annotations

from typing import Any

import pytest

import jobtower.demo  # noqa: F401  (registers the catalogue)
from domain.errors import InvalidInput
from domain.registry import registry
from domain.enumeration import MAX_KEY_LENGTH

CATALOGUE = (
    "ai_embedding_batch",
    "bulk_message_send",
    "campaign_run",
    "campaign_sequence",
    "contact_sync",
    "data_import",
    "ledger_close",
    "noop",
    "noop_batched",
    "renewal_reminders",
    "scheduled_report",
    "system.prune",
)


def test_the_demo_registers_the_catalogue_with_its_flags():
    assert set(CATALOGUE) <= {job_type.name for job_type in registry.all()}
    flags = {name: (t.system, t.stoppable, t.restartable) for name in CATALOGUE if (t := registry.get(name))}
    assert flags.pop("system.prune") == (True, False, False)
    # Once started, a ledger close works to the end; it is no system job, operators start it.
    assert flags.pop("ledger_close") == (False, False, True)
    assert set(flags.values()) == {(False, True, True)}


@pytest.mark.parametrize("name", CATALOGUE)
def test_every_type_starts_with_no_params_at_all(name):
    assert registry.get(name).validate_params({}) == {}


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("contact_sync", {"contacts": -1}, "params.contacts"),
        ("contact_sync", {"contacts": 10**9}, "params.contacts"),
        ("contact_sync", {"list": ""}, "params.list"),
        ("contact_sync", {"failRate": 1.5}, "params.failRate"),
        ("contact_sync", {"latencyScale": -1}, "params.latencyScale"),
        ("campaign_run", {"approvalRate": -0.1}, "params.approvalRate"),
        ("campaign_run", {"contacts": "many"}, "params.contacts"),
        ("bulk_message_send", {"channel": "fax"}, "params.channel"),
        ("bulk_message_send", {"ratePerSecond": 0}, "params.ratePerSecond"),
        ("scheduled_report", {"report": "quarterly-board"}, "params.report"),
        ("scheduled_report", {"asOf": "2026-13-01"}, "params.asOf"),
        ("scheduled_report", {"recipients": []}, "params.recipients"),
        ("scheduled_report", {"recipients": ["not an address"]}, "params.recipients.0"),
        ("renewal_reminders", {"daysAhead": 365}, "params.daysAhead"),
        ("ai_embedding_batch", {"chunkTokens": 64}, "params.chunkTokens"),
        ("ai_embedding_batch", {"model": "gpt-9"}, "params.model"),
        ("data_import", {"rows": 250_001}, "params.rows"),
        ("data_import", {"file": ""}, "params.file"),
        ("data_import", {"maxBadRows": -1}, "params.maxBadRows"),
        ("data_import", {"malformedAtRow": -3}, "params.malformedAtRow"),
        ("data_import", {"badRowRate": 2}, "params.badRowRate"),
        ("ledger_close", {"period": "2026-13"}, "params.period"),
        ("ledger_close", {"period": "November"}, "params.period"),
        ("ledger_close", {"accounts": 50_001}, "params.accounts"),
        ("campaign_sequence", {"sequence": "cold-outreach"}, "params.sequence"),
        ("campaign_sequence", {"dropOffRate": 1.2}, "params.dropOffRate"),
        ("campaign_sequence", {"cohort": "c" * 101}, "params.cohort"),
        ("campaign_sequence", {"latencyScale": 101}, "params.latencyScale"),
        ("system.prune", {"olderThanDays": 0}, "params.olderThanDays"),
        ("system.prune", {"batch": 1_000_000}, "params.batch"),
        ("system.prune", {"olderThan": 30}, "params"),
    ],
)
def test_params_out_of_bounds_are_refused_naming_the_field(name, params, field):
    with pytest.raises(InvalidInput) as refused:
        registry.get(name).validate_params(params)

    assert refused.value.field == field


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("contact_sync", {}),
        ("contact_sync", {"list": "l" * 100, "contacts": 7}),
        ("campaign_run", {"campaign": "c" * 100, "contacts": 3}),
        ("bulk_message_send", {"messages": 12, "channel": "push"}),
        ("scheduled_report", {}),
        ("scheduled_report", {"report": "monthly-usage", "asOf": "2026-02-28"}),
        ("renewal_reminders", {"subscriptions": 9}),
        ("ai_embedding_batch", {"corpus": "d" * 100, "documents": 4}),
        ("data_import", {}),
        ("data_import", {"file": "f" * 200, "rows": 13, "malformedAtRow": 4}),
        ("ledger_close", {}),
        ("ledger_close", {"period": "2026-02", "accounts": 7}),
        ("campaign_sequence", {}),
        ("campaign_sequence", {"sequence": "win-back", "cohort": "c" * 100}),
        ("system.prune", {"olderThanDays": 90}),
        ("noop", {"records": 11}),
        ("noop_batched", {"records": 11}),
    ],
)
async def test_the_record_estimate_is_what_the_enumeration_yields(name, params: dict[str, Any]):
    job_type = registry.get(name)

    keys = [key async for key in job_type.enumerate(params)]

    # Admission counts the estimate against the monthly record limit.
    assert job_type.records_requested(params) == len(keys)
    assert len(set(keys)) == len(keys)
    assert max(len(key) for key in keys) <= MAX_KEY_LENGTH
