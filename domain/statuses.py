"""The whole lifecycle of jobs, chunks and records: statuses, groups and the transition table.

Every status change in Jobtower is checked against ``JOB_TRANSITIONS`` by
``check_transition``; nothing else decides which move is legal.
"""

from __future__ import annotations

from enum import StrEnum

from domain.errors import InvalidTransition


class JobStatus(StrEnum):
    PENDING = "PENDING"  # admitted, waiting for its first chunk to start
    RUNNING = "RUNNING"  # at least one chunk has started
    WAITING = "WAITING"  # every open record waits on an external or human step
    STOPPING = "STOPPING"  # stop requested: in-flight records finish, no new record starts
    STOPPED = "STOPPED"  # nothing in flight; cursors saved; can be resumed
    CANCELING = "CANCELING"  # cancel requested while running: draining, then discarded
    CANCELED = "CANCELED"  # discarded for good; cannot be resumed
    FINISHED = "FINISHED"  # all chunks and children done; see JobOutcome
    FAILED = "FAILED"  # a run-level error ended the job


class JobOutcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"  # no record failed
    WITH_ERRORS = "WITH_ERRORS"  # some records failed
    INCOMPLETE = "INCOMPLETE"  # some chunks never completed


class ChunkStatus(StrEnum):
    PENDING = "PENDING"  # ready to be dispatched (again, after a stop or a lost lease)
    RUNNING = "RUNNING"  # leased by a worker
    COMPLETED = "COMPLETED"  # every record of its range has an outcome
    FAILED = "FAILED"  # gave up; its remaining records never ran
    STOPPED = "STOPPED"  # stopped at its cursor; resumable
    CANCELED = "CANCELED"  # discarded with its job


class RecordStatus(StrEnum):
    PENDING = "PENDING"  # known, not started (or continuing after a wait)
    RUNNING = "RUNNING"  # a worker runs its steps
    WAITING = "WAITING"  # a step waits on an external or human answer
    SUCCEEDED = "SUCCEEDED"  # every step passed
    FAILED = "FAILED"  # a step failed past its retries
    SKIPPED = "SKIPPED"  # a step decided the record needs no work
    INTERRUPTED = "INTERRUPTED"  # in flight when the job was force-stopped
    CANCELED = "CANCELED"  # never ran: its job was canceled


class StepStatus(StrEnum):
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    INTERRUPTED = "INTERRUPTED"


class Operation(StrEnum):
    """What moves a job: operator verbs and the events the workers report."""

    STOP = "STOP"
    FORCE_STOP = "FORCE_STOP"
    RESUME = "RESUME"
    CANCEL = "CANCEL"
    RESTART = "RESTART"  # creates a new job; the old one keeps its status
    RETRY_FAILED = "RETRY_FAILED"  # creates a new job over the failed records
    CHUNK_STARTED = "CHUNK_STARTED"
    ALL_WAITING = "ALL_WAITING"
    WAIT_COMPLETED = "WAIT_COMPLETED"
    WORK_DONE = "WORK_DONE"  # all chunks and children terminal
    DRAINED = "DRAINED"  # nothing left in flight after a stop or cancel request
    RUN_FAILED = "RUN_FAILED"


class EventKind(StrEnum):
    """What a job event records; every kind takes the job's next ``seq``."""

    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    PRIORITY_CHANGED = "PRIORITY_CHANGED"
    HIDDEN = "HIDDEN"
    PROGRESS = "PROGRESS"


JS = JobStatus

# Named groups.
ACTIVE = frozenset({JS.RUNNING, JS.WAITING})
IN_FLIGHT = frozenset({JS.RUNNING, JS.WAITING, JS.STOPPING, JS.CANCELING})
TERMINAL = frozenset({JS.FINISHED, JS.FAILED, JS.CANCELED})
# A job whose chunks may be handed to workers.
DISPATCHABLE = frozenset({JS.PENDING, JS.RUNNING, JS.WAITING})

CHUNK_TERMINAL = frozenset(
    {ChunkStatus.COMPLETED, ChunkStatus.FAILED, ChunkStatus.CANCELED}
)
CHUNK_OPEN = frozenset({ChunkStatus.PENDING, ChunkStatus.RUNNING})
RECORD_OUTCOMES = frozenset(
    {
        RecordStatus.SUCCEEDED,
        RecordStatus.FAILED,
        RecordStatus.SKIPPED,
        RecordStatus.INTERRUPTED,
        RecordStatus.CANCELED,
    }
)
RECORD_OPEN = frozenset({RecordStatus.PENDING, RecordStatus.RUNNING, RecordStatus.WAITING})
# Records ``retryFailedRecords`` runs again: they never completed their steps.
RECORD_RETRYABLE = frozenset({RecordStatus.FAILED, RecordStatus.INTERRUPTED})

# (operation, from) -> to. The single source of truth for job transitions.
# STOPPING -> FINISHED/FAILED is the path of a non-stoppable type that was asked
# to stop: it keeps working until done.
JOB_TRANSITIONS: dict[tuple[Operation, JobStatus], JobStatus] = {
    (Operation.CHUNK_STARTED, JS.PENDING): JS.RUNNING,
    (Operation.ALL_WAITING, JS.RUNNING): JS.WAITING,
    (Operation.WAIT_COMPLETED, JS.WAITING): JS.RUNNING,
    (Operation.WORK_DONE, JS.RUNNING): JS.FINISHED,
    (Operation.WORK_DONE, JS.WAITING): JS.FINISHED,
    (Operation.WORK_DONE, JS.STOPPING): JS.FINISHED,
    (Operation.WORK_DONE, JS.CANCELING): JS.CANCELED,
    (Operation.RUN_FAILED, JS.RUNNING): JS.FAILED,
    (Operation.RUN_FAILED, JS.WAITING): JS.FAILED,
    (Operation.RUN_FAILED, JS.STOPPING): JS.FAILED,
    (Operation.RUN_FAILED, JS.CANCELING): JS.CANCELED,
    (Operation.STOP, JS.PENDING): JS.STOPPED,
    (Operation.STOP, JS.RUNNING): JS.STOPPING,
    (Operation.STOP, JS.WAITING): JS.STOPPING,
    (Operation.DRAINED, JS.STOPPING): JS.STOPPED,
    (Operation.DRAINED, JS.CANCELING): JS.CANCELED,
    (Operation.FORCE_STOP, JS.STOPPING): JS.STOPPED,
    (Operation.RESUME, JS.STOPPED): JS.PENDING,
    (Operation.CANCEL, JS.PENDING): JS.CANCELED,
    (Operation.CANCEL, JS.STOPPED): JS.CANCELED,
    (Operation.CANCEL, JS.RUNNING): JS.CANCELING,
    (Operation.CANCEL, JS.WAITING): JS.CANCELING,
    (Operation.RESTART, JS.FINISHED): JS.FINISHED,
    (Operation.RESTART, JS.FAILED): JS.FAILED,
    (Operation.RESTART, JS.CANCELED): JS.CANCELED,
    (Operation.RETRY_FAILED, JS.FINISHED): JS.FINISHED,
    (Operation.RETRY_FAILED, JS.FAILED): JS.FAILED,
    (Operation.RETRY_FAILED, JS.CANCELED): JS.CANCELED,
}


def allowed_from(operation: Operation) -> frozenset[JobStatus]:
    return frozenset(src for (op, src) in JOB_TRANSITIONS if op is operation)


def check_transition(status: JobStatus, operation: Operation) -> JobStatus:
    """The status ``operation`` leads to from ``status``; raises InvalidTransition."""
    try:
        return JOB_TRANSITIONS[(operation, status)]
    except KeyError:
        raise InvalidTransition(status=status.value, operation=operation.value) from None
