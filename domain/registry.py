"""Job types: the code developers register, and the registry that admission and workers consult.

A developer describes a job type once::

    from domain.registry import JobType, Step, registry

    async def list_contacts(params):
        for contact_id in await crm.contact_ids(params["list"]):
            yield str(contact_id)

    registry.register(JobType(
        name="contact_sync",
        enumerate=list_contacts,
        steps=(Step("fetch", fetch), Step("upsert", upsert)),
        params_schema={"type": "object", "required": ["list"],
                       "properties": {"list": {"type": "string"}}},
    ))

``enumerate`` yields record keys in a stable order; each step is an async
callable that receives the worker's record context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jsonschema

from domain.errors import InvalidInput, UnknownJobType

MAX_CHUNK_SIZE = 100_000
DEFAULT_STALL_THRESHOLD = timedelta(minutes=5)

Params = Mapping[str, Any]
Enumerator = Callable[[Params], AsyncIterator[str]]
StepFn = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFn
    # Extra attempts after the first failure before the record fails.
    retries: int = 0
    # When the step gives up, fail the whole job instead of only the record.
    fail_job: bool = False


@dataclass(frozen=True)
class JobType:
    name: str
    enumerate: Enumerator
    steps: tuple[Step, ...]
    stoppable: bool = True
    restartable: bool = True
    system: bool = False
    default_chunk_size: int = 100
    stall_threshold: timedelta = DEFAULT_STALL_THRESHOLD
    params_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    # How many records the params will produce, when that is known up front;
    # admission counts it against the monthly record limit.
    estimate_records: Callable[[Params], int | None] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"job type {self.name} needs at least one step")
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"job type {self.name} has duplicate step names")
        if not 1 <= self.default_chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"job type {self.name} has an invalid default chunk size")
        jsonschema.Draft202012Validator.check_schema(self.params_schema)

    def validate_params(self, params: Any) -> dict[str, Any]:
        if params is None:
            params = {}
        validator = jsonschema.Draft202012Validator(self.params_schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(params))
        if error is not None:
            path = ".".join(str(part) for part in error.absolute_path)
            raise InvalidInput(field="params" + (f".{path}" if path else ""), message=error.message)
        if not isinstance(params, dict):
            raise InvalidInput(field="params", message="must be an object")
        return params

    def records_requested(self, params: Params) -> int | None:
        return self.estimate_records(params) if self.estimate_records else None


class JobTypeRegistry:
    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}

    def register(self, job_type: JobType) -> JobType:
        if job_type.name in self._types and self._types[job_type.name] is not job_type:
            raise ValueError(f"job type {job_type.name} is already registered")
        self._types[job_type.name] = job_type
        return job_type

    def get(self, name: str) -> JobType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownJobType(name) from None

    def __contains__(self, name: str) -> bool:
        return name in self._types

    def all(self) -> list[JobType]:
        return sorted(self._types.values(), key=lambda t: t.name)


registry = JobTypeRegistry()
