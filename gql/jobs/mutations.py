"""Starting and steering jobs. Each mutation is one domain verb; refusals come back typed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from domain import jobs
from domain.access import Actor
from domain.errors import JobtowerError
from domain.models import Job, Record
from gql.context import Info
from gql.errors import (
    ForbiddenError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    NotRestartableError,
    NotStoppableError,
    PlanLimitError,
    UnknownJobTypeError,
    to_error,
)
from gql.ids import from_global_id
from gql.jobs.types import JobNode, RecordNode
from gql.scalars import JSON


@strawberry.type
class JobStarted:
    job: JobNode


@strawberry.type
class JobOperationSuccess:
    job: JobNode


@strawberry.type
class RecordOperationSuccess:
    record: RecordNode


StartJobResult = Annotated[
    JobStarted
    | PlanLimitError
    | UnknownJobTypeError
    | InvalidInputError
    | ForbiddenError
    | NotFoundError
    | InvalidTransitionError
    | NotRestartableError,
    strawberry.union("StartJobResult"),
]
JobOperationResult = Annotated[
    JobOperationSuccess
    | NotFoundError
    | ForbiddenError
    | InvalidTransitionError
    | NotStoppableError
    | InvalidInputError,
    strawberry.union("JobOperationResult"),
]
RecordOperationResult = Annotated[
    RecordOperationSuccess | NotFoundError | ForbiddenError | InvalidTransitionError | InvalidInputError,
    strawberry.union("RecordOperationResult"),
]


@strawberry.input
class StartJobInput:
    type: str
    name: str | None = None
    params: JSON | None = None
    chunk_size: int | None = None
    low_priority: bool | None = strawberry.field(
        default=None, description="Priority is an admin's decision: true needs the ADMIN role, as setJobLowPriority does."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="The same key returns the same job instead of starting another."
    )
    parent_id: strawberry.ID | None = None


async def _started(call: Callable[[], Awaitable[Job]]) -> Any:
    try:
        return JobStarted(job=JobNode.of(await call()))
    except JobtowerError as error:
        return to_error(error)


async def _operated(verb: Callable[[Actor, int], Awaitable[Job]], info: Info, id: str) -> Any:
    try:
        job = await verb(info.context.viewer, from_global_id(id, "Job"))
        return JobOperationSuccess(job=JobNode.of(job))
    except JobtowerError as error:
        return to_error(error)


@strawberry.type
class JobMutations:
    @strawberry.mutation
    async def start_job(self, info: Info, input: StartJobInput) -> StartJobResult:
        async def start() -> Job:
            return await jobs.start_job(
                info.context.viewer,
                jobs.StartJobRequest(
                    type=input.type,
                    name=input.name,
                    params=input.params,
                    chunk_size=input.chunk_size,
                    low_priority=bool(input.low_priority),
                    idempotency_key=input.idempotency_key,
                    parent_id=None if input.parent_id is None else from_global_id(input.parent_id, "Job"),
                ),
            )

        return await _started(start)

    @strawberry.mutation
    async def stop_job(self, info: Info, id: strawberry.ID) -> JobOperationResult:
        return await _operated(jobs.stop_job, info, id)

    @strawberry.mutation
    async def resume_job(self, info: Info, id: strawberry.ID) -> JobOperationResult:
        return await _operated(jobs.resume_job, info, id)

    @strawberry.mutation
    async def force_stop_job(self, info: Info, id: strawberry.ID) -> JobOperationResult:
        return await _operated(jobs.force_stop_job, info, id)

    @strawberry.mutation
    async def cancel_job(self, info: Info, id: strawberry.ID) -> JobOperationResult:
        return await _operated(jobs.cancel_job, info, id)

    @strawberry.mutation
    async def hide_job(self, info: Info, id: strawberry.ID) -> JobOperationResult:
        return await _operated(jobs.hide_job, info, id)

    @strawberry.mutation(
        description="ADMIN only. A hidden job comes back into lists; INVALID_TRANSITION if it is not hidden."
    )
    async def unhide_job(self, info: Info, id: strawberry.ID) -> JobOperationResult:
        return await _operated(jobs.unhide_job, info, id)

    @strawberry.mutation(
        description="ADMIN only. Refused with INVALID_TRANSITION once the job ended: it runs nothing more."
    )
    async def set_job_low_priority(
        self, info: Info, id: strawberry.ID, low_priority: bool
    ) -> JobOperationResult:
        async def verb(actor: Actor, job_id: int) -> Job:
            return await jobs.set_job_low_priority(actor, job_id, low_priority)

        return await _operated(verb, info, id)

    @strawberry.mutation
    async def restart_job(self, info: Info, id: strawberry.ID) -> StartJobResult:
        return await _started(lambda: jobs.restart_job(info.context.viewer, from_global_id(id, "Job")))

    @strawberry.mutation(
        description="A new job over the records of jobId that failed or were interrupted: restartedFrom links"
        " jobId, its name says how many records it retries and its progress counts only them."
    )
    async def retry_failed_records(self, info: Info, job_id: strawberry.ID) -> StartJobResult:
        return await _started(
            lambda: jobs.retry_failed_records(info.context.viewer, from_global_id(job_id, "Job"))
        )

    @strawberry.mutation(
        description="Answer a WAITING record. The payload must match what its waiting step expects"
        " (its answerSchema in JobType.steps), else INVALID_INPUT names the offending field and nothing changes."
    )
    async def complete_wait(
        self, info: Info, record_id: strawberry.ID, payload: JSON | None = None
    ) -> RecordOperationResult:
        try:
            record: Record = await jobs.complete_wait(
                info.context.viewer, from_global_id(record_id, "Record"), payload
            )
            return RecordOperationSuccess(record=RecordNode.of(record, info.context.now))
        except JobtowerError as error:
            return to_error(error)
