"""``scheduled_report``: builds a report section by section and delivers it; usually on a schedule.

One record per section of the report: ``gather`` its figures (a slow query,
retried once), ``render`` it, ``deliver`` it to the report's recipients. The
report date (``asOf``, today when not given) is part of every key, so a flaky
data source fails a different section on different days, and the same one
when a day's report is restarted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from domain.clock import utcnow
from domain.registry import JobType, RecordContext, Step, registry
from jobtower.job_types.simulated import (
    LATENCY_SCHEMA,
    RATE_SCHEMA,
    fraction,
    latency,
    seeded,
    with_defaults,
)

SECTIONS: dict[str, tuple[str, ...]] = {
    "daily-kpis": ("summary", "signups", "revenue", "churn", "support", "incidents"),
    "weekly-pipeline": ("summary", "new-deals", "won", "lost", "forecast"),
    "monthly-usage": ("summary", "jobs", "records", "top-tenants", "limits", "costs", "trends"),
}

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "report": {"enum": sorted(SECTIONS), "default": "daily-kpis"},
        "asOf": {
            "type": "string",
            "pattern": r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$",
            "description": "The report date, YYYY-MM-DD; today (UTC) when not given.",
        },
        "recipients": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$", "maxLength": 254},
            "minItems": 1,
            "maxItems": 50,
            "uniqueItems": True,
            "default": ["ops@example.com"],
        },
        "failRate": {
            **RATE_SCHEMA,
            "default": 0.02,
            "description": "Share of sections whose data source times out on both attempts.",
        },
        "latencyScale": {**LATENCY_SCHEMA, "default": 1},
    },
    "additionalProperties": False,
}


class DataSourceTimeout(Exception):
    """The section's query did not answer in time."""


def sections_of(params: Mapping[str, Any]) -> tuple[str, ...]:
    return SECTIONS[with_defaults(params, PARAMS_SCHEMA)["report"]]


def times_out(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["failRate"], "timeout")


async def section_keys(params: Mapping[str, Any]) -> AsyncIterator[str]:
    options = with_defaults(params, PARAMS_SCHEMA)
    as_of = options.get("asOf") or utcnow().date().isoformat()
    for section in sections_of(params):
        yield f"{options['report']}/{as_of}/{section}"


async def gather(context: RecordContext) -> None:
    await latency(context.params, context.key, 25, "gather")
    if times_out(context.key, context.params):
        raise DataSourceTimeout(f"the query for {context.key} took longer than 30 s")
    rows = 5 + int(fraction(context.key, "rows") * 45)
    context.state["rows"] = rows
    context.set_detail({"rows": rows})


async def render(context: RecordContext) -> None:
    await latency(context.params, context.key, 8, "render")
    context.set_detail({"format": "html", "charts": context.state["rows"] // 10})


async def deliver(context: RecordContext) -> None:
    await latency(context.params, context.key, 4, "deliver")
    context.set_detail({"recipients": len(with_defaults(context.params, PARAMS_SCHEMA)["recipients"])})


SCHEDULED_REPORT = registry.register(
    JobType(
        name="scheduled_report",
        label="Scheduled report",
        description="Builds a report section by section and mails it to its recipients.",
        enumerate=section_keys,
        steps=(Step("gather", gather, retries=1), Step("render", render), Step("deliver", deliver)),
        # A report has a handful of sections: one chunk, gathered side by side.
        default_chunk_size=10,
        record_concurrency=4,
        estimate_records=lambda params: len(sections_of(params)),
        params_schema=PARAMS_SCHEMA,
    )
)
