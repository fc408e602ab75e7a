"""The whole lifecycle of jobs, chunks and records, and of bulk operations over jobs:
statuses, groups and transition tables.

Every status change in Jobtower is checked against one table per kind:
``JOB_TRANSITIONS`` (``check_transition``), ``CHUNK_TRANSITIONS``
(``check_chunk_transition``), ``RECORD_TRANSITIONS``
(``check_record_transition``) and ``BULK_TRANSITIONS`` (``check_bulk_transition``);
nothing else decides which move is legal.
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
    PENDING = "PENDING"  # ready: runs when a worker slot is free (again, after a stop or a lost lease)
    QUEUED = "QUEUED"  # taken by a worker slot under a lease, no record started yet
    RUNNING = "RUNNING"  # a worker runs its records under a lease
    WAITING = "WAITING"  # every remaining record waits on an answer; no worker holds it
    COMPLETED = "COMPLETED"  # every record of its range has an outcome, none interrupted
    INCOMPLETE = "INCOMPLETE"  # ended with records that never completed (interrupted by a force stop)
    FAILED = "FAILED"  # gave up (its run failed, or it lost its worker too often); the rest never ran
    STOPPED = "STOPPED"  # stopped at its cursor; resumable
    CANCELED = "CANCELED"  # discarded with its job


class RecordStatus(StrEnum):
    # A record has a row once it first ran to an outcome or a wait; until then it is PENDING
    # by its place in the chunk's range, and RUNNING only in the worker that runs it.
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
    UNHIDDEN = "UNHIDDEN"
    PROGRESS = "PROGRESS"


JS = JobStatus
CS = ChunkStatus
RS = RecordStatus

# Named groups.
ACTIVE = frozenset({JS.RUNNING, JS.WAITING})
IN_FLIGHT = frozenset({JS.RUNNING, JS.WAITING, JS.STOPPING, JS.CANCELING})
TERMINAL = frozenset({JS.FINISHED, JS.FAILED, JS.CANCELED})
# A job whose chunks may be handed to workers (and see ``keeps_working``).
DISPATCHABLE = frozenset({JS.PENDING, JS.RUNNING, JS.WAITING})
# A child has followed its parent's wind-down once its status is here; until all have,
# the parent keeps STOPPING or CANCELING, so no child ends after its parent.
FOLLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JS.STOPPING: TERMINAL | {JS.STOPPED},
    JS.CANCELING: TERMINAL,
}

CHUNK_TERMINAL = frozenset({CS.COMPLETED, CS.INCOMPLETE, CS.FAILED, CS.CANCELED})
# Chunks with records still to run: their job is not done.
CHUNK_OPEN = frozenset({CS.PENDING, CS.QUEUED, CS.RUNNING, CS.WAITING})
RECORD_OUTCOMES = frozenset({RS.SUCCEEDED, RS.FAILED, RS.SKIPPED, RS.INTERRUPTED, RS.CANCELED})
RECORD_OPEN = frozenset({RS.PENDING, RS.RUNNING, RS.WAITING})
# Records ``retryFailedRecords`` runs again: they never completed their steps.
RECORD_RETRYABLE = frozenset({RS.FAILED, RS.INTERRUPTED})


def keeps_working(status: JobStatus, stoppable: bool) -> bool:
    """Whether a job's records may run now. The one rule for a non-stoppable type asked to
    stop: it keeps running while STOPPING, until its work is done."""
    return status in DISPATCHABLE or (status is JS.STOPPING and not stoppable)


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
    # A job's enumeration runs while it is PENDING; when it fails, so does the job.
    (Operation.RUN_FAILED, JS.PENDING): JS.FAILED,
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


# ---------------------------------------------------------------- chunks


class ChunkOperation(StrEnum):
    """What moves a chunk: a worker slot's claim and release, and its job's verbs."""

    CLAIM = "CLAIM"  # a free worker slot takes the chunk under a lease
    START = "START"  # the worker starts its first record
    REQUEUE = "REQUEUE"  # handed back unfinished: the worker drains, lost its lease, or answers came in
    PARK = "PARK"  # every remaining record waits on an answer; the worker lets go
    ANSWER = "ANSWER"  # a waiting record got its answer (or timed out)
    COMPLETE = "COMPLETE"  # every record has an outcome
    END_INCOMPLETE = "END_INCOMPLETE"  # every record has an outcome, some interrupted
    STOP = "STOP"  # its job stopped: it keeps its cursor
    RESUME = "RESUME"  # its job resumed
    FAIL = "FAIL"  # its job's run failed, or it lost its worker too many times
    CANCEL = "CANCEL"  # its job was canceled


CO = ChunkOperation
_CHUNK_MOVES: dict[ChunkOperation, tuple[frozenset[ChunkStatus], ChunkStatus]] = {
    CO.CLAIM: (frozenset({CS.PENDING}), CS.QUEUED),
    CO.START: (frozenset({CS.QUEUED}), CS.RUNNING),
    CO.REQUEUE: (frozenset({CS.QUEUED, CS.RUNNING}), CS.PENDING),
    CO.PARK: (frozenset({CS.RUNNING}), CS.WAITING),
    CO.ANSWER: (frozenset({CS.WAITING}), CS.PENDING),
    CO.COMPLETE: (frozenset({CS.RUNNING}), CS.COMPLETED),
    CO.END_INCOMPLETE: (frozenset({CS.RUNNING}), CS.INCOMPLETE),
    # A RUNNING chunk stops when its worker reaches a batch boundary, or at once on a force stop.
    CO.STOP: (frozenset({CS.PENDING, CS.QUEUED, CS.RUNNING, CS.WAITING}), CS.STOPPED),
    CO.RESUME: (frozenset({CS.STOPPED}), CS.PENDING),
    CO.FAIL: (CHUNK_OPEN | {CS.STOPPED}, CS.FAILED),
    CO.CANCEL: (CHUNK_OPEN | {CS.STOPPED}, CS.CANCELED),
}
# (operation, from) -> to. The single source of truth for chunk transitions.
CHUNK_TRANSITIONS: dict[tuple[ChunkOperation, ChunkStatus], ChunkStatus] = {
    (operation, source): target
    for operation, (sources, target) in _CHUNK_MOVES.items()
    for source in sources
}


def chunk_sources(operation: ChunkOperation) -> frozenset[ChunkStatus]:
    """The statuses ``operation`` may move a chunk from."""
    return _CHUNK_MOVES[operation][0]


def chunk_target(operation: ChunkOperation) -> ChunkStatus:
    return _CHUNK_MOVES[operation][1]


def check_chunk_transition(status: ChunkStatus, operation: ChunkOperation) -> ChunkStatus:
    """The status ``operation`` leads a chunk to from ``status``; raises InvalidTransition."""
    try:
        return CHUNK_TRANSITIONS[(operation, status)]
    except KeyError:
        raise InvalidTransition(status=status.value, operation=operation.value) from None


# ---------------------------------------------------------------- records

# (from, to). A record runs from PENDING to an outcome or a wait in one worker; its row is
# written then. A waiting record goes back to PENDING when answered, and open records of a
# canceled job become CANCELED.
RECORD_TRANSITIONS: frozenset[tuple[RecordStatus, RecordStatus]] = frozenset(
    {(RS.PENDING, RS.RUNNING)}
    | {(RS.RUNNING, to) for to in (RS.SUCCEEDED, RS.FAILED, RS.SKIPPED, RS.INTERRUPTED, RS.WAITING)}
    | {(RS.WAITING, RS.PENDING)}
    | {(source, RS.CANCELED) for source in (RS.PENDING, RS.WAITING)}
)


def record_sources(target: RecordStatus) -> frozenset[RecordStatus]:
    """The statuses a record may reach ``target`` from."""
    return frozenset(source for source, to in RECORD_TRANSITIONS if to is target)


def check_record_transition(status: RecordStatus, target: RecordStatus) -> RecordStatus:
    """``target`` if a record may move there from ``status``; raises InvalidTransition."""
    if (status, target) not in RECORD_TRANSITIONS:
        raise InvalidTransition(status=status.value, operation=f"RECORD_{target.value}")
    return target


# ---------------------------------------------------------------- bulk operations


class BulkAction(StrEnum):
    """What a bulk operation does to each of its jobs: the job verb of the same name."""

    STOP = "STOP"
    RESUME = "RESUME"
    CANCEL = "CANCEL"
    RETRY_FAILED_RECORDS = "RETRY_FAILED_RECORDS"
    SET_LOW_PRIORITY = "SET_LOW_PRIORITY"
    REMOVE_LOW_PRIORITY = "REMOVE_LOW_PRIORITY"
    HIDE = "HIDE"
    UNHIDE = "UNHIDE"


class BulkOperationStatus(StrEnum):
    PENDING = "PENDING"  # its jobs are chosen; no runner has started on them yet
    RUNNING = "RUNNING"  # a runner applies the action to its jobs, batch by batch
    COMPLETED = "COMPLETED"  # every job had its turn (the verb may have refused some)
    CANCELED = "CANCELED"  # canceled before the end: the jobs not reached yet stay untouched


class BulkTargetStatus(StrEnum):
    PENDING = "PENDING"  # not reached yet
    SUCCEEDED = "SUCCEEDED"  # the verb changed the job
    FAILED = "FAILED"  # the verb refused (its error's code and message are kept), or failed unexpectedly


class BulkMove(StrEnum):
    START = "START"  # a runner takes the operation up
    COMPLETE = "COMPLETE"  # every target has its result
    CANCEL = "CANCEL"  # a user cancels it


BS = BulkOperationStatus
BULK_OPEN = frozenset({BS.PENDING, BS.RUNNING})
_BULK_MOVES: dict[BulkMove, tuple[frozenset[BulkOperationStatus], BulkOperationStatus]] = {
    BulkMove.START: (frozenset({BS.PENDING}), BS.RUNNING),
    BulkMove.COMPLETE: (frozenset({BS.RUNNING}), BS.COMPLETED),
    BulkMove.CANCEL: (BULK_OPEN, BS.CANCELED),
}
# (move, from) -> to. The single source of truth for bulk operation transitions.
BULK_TRANSITIONS: dict[tuple[BulkMove, BulkOperationStatus], BulkOperationStatus] = {
    (move, source): target for move, (sources, target) in _BULK_MOVES.items() for source in sources
}


def bulk_sources(move: BulkMove) -> frozenset[BulkOperationStatus]:
    """The statuses ``move`` may take a bulk operation from."""
    return _BULK_MOVES[move][0]


def bulk_target(move: BulkMove) -> BulkOperationStatus:
    return _BULK_MOVES[move][1]


def check_bulk_transition(status: BulkOperationStatus, move: BulkMove) -> BulkOperationStatus:
    """The status ``move`` leads a bulk operation to from ``status``; raises InvalidTransition."""
    try:
        return BULK_TRANSITIONS[(move, status)]
    except KeyError:
        raise InvalidTransition(
            status=status.value, operation=move.value, reason=f"the bulk operation is {status.value}"
        ) from None
