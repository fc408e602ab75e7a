"""Job types the domain tests admit: small, deterministic, no I/O."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from domain.registry import JobType, Step, registry


async def numbered(params: Mapping[str, Any]) -> AsyncIterator[str]:
    for number in range(params.get("records", 10)):
        yield str(number)


async def passes(context: Any) -> None:
    return None


def _register(name: str, **flags: Any) -> JobType:
    if name in registry:
        return registry.get(name)
    return registry.register(
        JobType(
            name=name,
            enumerate=numbered,
            steps=(Step("work", passes),),
            params_schema={
                "type": "object",
                "properties": {"records": {"type": "integer", "minimum": 0, "maximum": 1_000_000}},
                "additionalProperties": False,
            },
            estimate_records=lambda params: params.get("records", 10),
            **flags,
        )
    )


PLAIN = _register("test.plain")
NON_STOPPABLE = _register("test.non_stoppable", stoppable=False)
NON_RESTARTABLE = _register("test.non_restartable", restartable=False)
SYSTEM = _register("test.system", system=True, stoppable=False)
