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
callable that receives a ``RecordContext``. A step ends a record early by
raising ``SkipRecord`` or ``WaitForAnswer``, or the whole job with ``FailJob``;
any other exception, or running past its ``timeout`` (``Step(..., timeout=timedelta(...))``,
five minutes unless set), fails the step (after its retries) and so the record.

A batch step takes up to ``batch_size`` records at once (one bulk call for many)::

    async def upsert(contexts):
        answers = await workspace.bulk_upsert([context.state["row"] for context in contexts])
        for context, answer in zip(contexts, answers):
            if answer.error:
                context.fail(ContactRejected(answer.error))

    Step("upsert", run_batch=upsert, batch_size=500, retries=2)

Each record still ends on its own: ``context.fail(error)`` gives that record what a step
of its own would have raised (``SkipRecord``, ``WaitForAnswer``, ``FailJob`` or a fault),
and only the records whose attempt failed go into the retry's call. What the batch
function raises (or its timeout) counts for every record of the call.
A step that waits says so (``Step("approve", approve, may_wait=True)``), and
may declare the answer it expects as a JSON Schema (``answer_schema={...}``,
which implies ``may_wait``): ``completeWait`` refuses any other payload.

What a client shows of a type comes from it too: a ``label``, a ``description``,
why it cannot be stopped or restarted when it cannot, and the chunk sizes
(``allowed_chunk_sizes``) a tenant may choose as its Sync Size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from copy import copy
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

import importlib

import jsonschema

from domain.errors import InvalidInput, UnknownJobType
from domain.inputs import check_json

MAX_CHUNK_SIZE = 100_000
# A type that lists no chunk sizes offers its default and these multiples of it.
CHUNK_SIZE_FACTORS = (0.1, 0.2, 0.5, 1, 2, 5, 10)
DEFAULT_STALL_THRESHOLD = timedelta(minutes=5)
DEFAULT_STEP_TIMEOUT = timedelta(minutes=5)

Params = Mapping[str, Any]
Enumerator = Callable[[Params], AsyncIterator[str]]
StepFn = Callable[["RecordContext"], Awaitable[Any]]
BatchStepFn = Callable[[Sequence["RecordContext"]], Awaitable[Any]]
DEFAULT_BATCH_SIZE = 100


class StepSignal(Exception):
    """Raised by a step to steer its record or job rather than to report a fault."""


class SkipRecord(StepSignal):
    """The record needs no work; it ends SKIPPED."""


class WaitForAnswer(StepSignal):
    """The record waits for ``completeWait``; the same step runs again with ``context.payload``.

    With a ``timeout`` the step runs again when it passes, its payload then
    ``{"timedOut": true}``.
    """

    def __init__(self, reason: str = "", timeout: timedelta | None = None) -> None:
        super().__init__(reason)
        self.timeout = timeout


class FailJob(StepSignal):
    """The whole job fails with this message."""


class RecordContext(Protocol):
    """What a step sees of its record and job."""

    job_id: int
    key: str
    position: int
    params: Params
    # What completeWait delivered, when the step runs again after a wait.
    payload: Any
    # Shared by the steps of one record run, e.g. data fetched by an earlier step.
    state: dict[str, Any]

    def log(self, level: str, message: str, **fields: Any) -> None: ...

    def set_detail(self, detail: Any) -> None: ...

    def fail(self, error: Exception) -> None:
        """End this record's attempt at the step as if the step had raised ``error``: how a
        batch step fails, skips or parks one of its records."""
        ...

    async def spawn_child(
        self, type: str, params: Mapping[str, Any] | None = None, name: str | None = None
    ) -> int: ...


def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema calls 2.0 an integer, yet code that reads an integer param (``range``, a slice)
# fails on a float: this validator calls 2.0 a number only, and ``check_against`` makes it 2.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def check_against(schema: Mapping[str, Any], value: Any, field: str) -> Any:
    """``value`` as ``schema`` accepts it, with a whole float where it declares an integer made
    an int (a copy; ``value`` is left as it is); else ``InvalidInput`` naming the offending
    field (``params.records``)."""
    validator = _Validator(schema)
    errors = list(validator.iter_errors(value))
    integral = [error for error in errors if _integral_for_integer(error)]
    if integral:
        for error in integral:
            value = _replaced(value, list(error.absolute_path), int(error.instance))
        errors = list(validator.iter_errors(value))
    error = jsonschema.exceptions.best_match(errors)
    if error is None:
        return value
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, Mapping):
        # The error sits on the object; the field at fault is the one that is missing.
        path.append(next(str(name) for name in error.validator_value if name not in error.instance))
    raise InvalidInput(field=".".join([field, *path]), message=error.message)


def _integral_for_integer(error: jsonschema.ValidationError) -> bool:
    """The error is only that a whole float stands where the schema wants an integer."""
    if error.validator != "type" or not isinstance(error.instance, float) or not error.instance.is_integer():
        return False
    wanted = error.validator_value
    return "integer" in (wanted if isinstance(wanted, list) else [wanted])


def _replaced(document: Any, path: list[Any], new: Any) -> Any:
    """``document`` with the value at ``path`` replaced, copying only the containers on the way."""
    if not path:
        return new
    head, *rest = path
    changed = copy(document)
    changed[head] = _replaced(document[head], rest, new)
    return changed


@dataclass(frozen=True)
class Step:
    """One stage of a record's pipeline.

    A run that lasts longer than ``timeout`` is cancelled and counts as a failed attempt: it is
    retried per ``retries``, then the record fails saying it timed out. A timeout can only
    preempt a step where it awaits. One that blocks the event loop (``time.sleep``, a
    synchronous client, a long computation) runs to its end whatever its timeout, and meanwhile
    its worker neither heartbeats nor runs other records, so its chunk may be re-run by another
    worker once the lease expires. Such work belongs in a thread (``await
    asyncio.to_thread(...)``): the step then times out, though the thread runs on to its end.

    A batch step's ``timeout`` bounds each call, and its ``retries`` count per record: a retry
    calls ``run_batch`` again with only the records whose attempt failed.
    """

    name: str
    # What runs for one record; or, for a batch step, ``run_batch`` for several at once.
    run: StepFn | None = None
    run_batch: BatchStepFn | None = None
    # A batch step's most records per call (fewer when the chunk or the records that reach
    # the step are fewer); one at a time for a step that runs per record.
    batch_size: int | None = None
    # Extra attempts after the first failure before the record fails.
    retries: int = 0
    # When the step gives up, fail the whole job instead of only the record.
    fail_job: bool = False
    # For a step that raises WaitForAnswer: the JSON Schema its answer (completeWait's
    # payload) must match. None accepts any answer.
    answer_schema: Mapping[str, Any] | None = None
    # The step may raise WaitForAnswer: clients show that its records may wait for an answer.
    may_wait: bool = False
    # How long one attempt may run before it is cancelled and counts as failed.
    timeout: timedelta = DEFAULT_STEP_TIMEOUT

    def __post_init__(self) -> None:
        if (self.run is None) == (self.run_batch is None):
            raise ValueError(f"step {self.name} needs either run or run_batch")
        if self.run_batch is None and self.batch_size is not None:
            raise ValueError(f"step {self.name} has a batch_size but no run_batch")
        if self.run_batch is not None and self.batch_size is None:
            object.__setattr__(self, "batch_size", DEFAULT_BATCH_SIZE)
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"step {self.name} needs a batch_size of at least 1")
        if self.timeout <= timedelta(0):
            raise ValueError(f"step {self.name} needs a positive timeout")
        if self.answer_schema is not None:
            jsonschema.Draft202012Validator.check_schema(self.answer_schema)
            # Only a step that waits is answered.
            object.__setattr__(self, "may_wait", True)

    def check_answer(self, payload: Any) -> None:
        if self.answer_schema is not None:
            check_against(self.answer_schema, payload, "payload")


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
    # Records of one chunk that run at the same time; raise it for steps that wait on I/O.
    record_concurrency: int | Callable[[Params], int] = 1
    # When the steps depend on the params (e.g. a configurable pipeline), they are
    # chosen per job at admission from ``steps``.
    plan_steps: Callable[[Params], Sequence[Step]] | None = None
    # What a person reads: a short name ("Contact sync"; derived from ``name`` when empty)
    # and a sentence.
    label: str = ""
    description: str = ""
    # Why a job of the type cannot be stopped (when ``stoppable`` is false) or run again
    # (when ``restartable`` is false), as a sentence; a generic one when empty.
    not_stoppable_reason: str = ""
    not_restartable_reason: str = ""
    # The chunk sizes a tenant may choose for the type (its Sync Size), ascending; they
    # include ``default_chunk_size``. Empty: the default and multiples of it.
    allowed_chunk_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"job type {self.name} needs at least one step")
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"job type {self.name} has duplicate step names")
        if not 1 <= self.default_chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"job type {self.name} has an invalid default chunk size")
        jsonschema.Draft202012Validator.check_schema(self.params_schema)
        # Frozen: the derived values are set once, here.
        derive = partial(object.__setattr__, self)
        derive("label", self.label or self.name.replace(".", " ").replace("_", " ").capitalize())
        derive("allowed_chunk_sizes", self._checked_chunk_sizes())
        if self.stoppable and self.not_stoppable_reason:
            raise ValueError(f"job type {self.name} is stoppable but says why it is not")
        if self.restartable and self.not_restartable_reason:
            raise ValueError(f"job type {self.name} is restartable but says why it is not")
        if not self.stoppable and not self.not_stoppable_reason:
            derive(
                "not_stoppable_reason",
                "A system job cannot be stopped or canceled while it runs."
                if self.system
                else "Once started it runs to the end: asked to stop, it finishes the work first.",
            )
        if not self.restartable and not self.not_restartable_reason:
            derive("not_restartable_reason", "A job of this type runs once: start a new one instead.")

    def _checked_chunk_sizes(self) -> tuple[int, ...]:
        if not self.allowed_chunk_sizes:
            derived = {round(self.default_chunk_size * factor) for factor in CHUNK_SIZE_FACTORS}
            return tuple(sorted(size for size in derived if 1 <= size <= MAX_CHUNK_SIZE))
        sizes = tuple(sorted(set(self.allowed_chunk_sizes)))
        if not all(1 <= size <= MAX_CHUNK_SIZE for size in sizes):
            raise ValueError(f"job type {self.name} allows a chunk size outside 1..{MAX_CHUNK_SIZE}")
        if self.default_chunk_size not in sizes:
            raise ValueError(f"job type {self.name} does not allow its own default chunk size")
        return sizes

    def validate_params(self, params: Any) -> dict[str, Any]:
        """The params as the schema accepts them and every backend stores them, or ``InvalidInput``."""
        if params is None:
            params = {}
        # First: NaN would pass the schema's minimum and maximum.
        check_json("params", params)
        params = check_against(self.params_schema, params, "params")
        if not isinstance(params, dict):
            raise InvalidInput(field="params", message="must be an object")
        return params

    def steps_for(self, params: Params) -> tuple[Step, ...]:
        return tuple(self.plan_steps(params)) if self.plan_steps else self.steps

    def step_named(self, name: str) -> Step | None:
        """One of ``steps`` (the steps a job's plan chooses from), by name."""
        return next((step for step in self.steps if step.name == name), None)

    def concurrency_for(self, params: Params) -> int:
        width = self.record_concurrency
        return max(1, width(params) if callable(width) else width)

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

    @staticmethod
    def load(modules: list[str]) -> None:
        """Import the modules that register job types (settings.job_types)."""
        for module in modules:
            importlib.import_module(module)


registry = JobTypeRegistry()
