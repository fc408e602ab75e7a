"""Job types the subscription tests run on real workers (imported by them and by the test process)."""

from __future__ import annotations

from domain.logs import LogLevel
from domain.registry import JobType, RecordContext, Step, registry
from tests.job_types import PARAMS_SCHEMA, numbered, passes


async def logs_every_level(context: RecordContext) -> None:
    await passes(context)
    for level in LogLevel:
        context.log(level.value, f"record {context.key} says {level.value.lower()}", record=context.key)


CHATTY = (
    registry.get("test.chatty")
    if "test.chatty" in registry
    else registry.register(
        JobType(
            name="test.chatty",
            label="Chatty test",
            enumerate=numbered,
            steps=(Step("talk", logs_every_level),),
            params_schema=PARAMS_SCHEMA,
            estimate_records=lambda params: params.get("records", 10),
        )
    )
)
