"""The job lifecycle written out by hand for the tests, independently of ``domain.statuses``.

If the tests read the code's own transition table, they could never disagree with it.
"""

from __future__ import annotations

from functools import cache
from itertools import permutations

from domain.statuses import JobStatus

S = JobStatus

# (operation, from) -> to for a stoppable, restartable type. Every pair not
# listed here is refused and changes nothing.
MOVES: dict[tuple[str, JobStatus], JobStatus] = {
    ("stop", S.PENDING): S.STOPPED,
    ("stop", S.RUNNING): S.STOPPING,
    ("stop", S.WAITING): S.STOPPING,
    ("force_stop", S.STOPPING): S.STOPPED,
    ("resume", S.STOPPED): S.PENDING,
    ("cancel", S.PENDING): S.CANCELED,
    ("cancel", S.STOPPED): S.CANCELED,
    ("cancel", S.RUNNING): S.CANCELING,
    ("cancel", S.WAITING): S.CANCELING,
    ("mark_running", S.PENDING): S.RUNNING,
    ("mark_waiting", S.RUNNING): S.WAITING,
    ("mark_drained", S.STOPPING): S.STOPPED,
    ("mark_drained", S.CANCELING): S.CANCELED,
    ("finish_job", S.RUNNING): S.FINISHED,
    ("finish_job", S.WAITING): S.FINISHED,
    # The last records completed the job before the stop took hold.
    ("finish_job", S.STOPPING): S.FINISHED,
    # A cancel request wins: the job ends discarded, whatever the run did.
    ("finish_job", S.CANCELING): S.CANCELED,
    # Its enumeration, which runs while the job is PENDING, failed.
    ("fail_job", S.PENDING): S.FAILED,
    ("fail_job", S.RUNNING): S.FAILED,
    ("fail_job", S.WAITING): S.FAILED,
    ("fail_job", S.STOPPING): S.FAILED,
    ("fail_job", S.CANCELING): S.CANCELED,
}

ENDED = (S.FINISHED, S.FAILED, S.CANCELED)

# Operations that start a new job and leave the old one as it was.
SPAWNS = {("restart", status) for status in ENDED} | {
    ("retry_failed_records", status) for status in ENDED
}

# Operations that keep the status (they still take a seq), and the statuses they are allowed in.
MARKS: dict[str, frozenset[JobStatus]] = {
    "hide": frozenset(JobStatus),
    # An ended job runs nothing more: a priority would mean nothing.
    "set_low_priority": frozenset(JobStatus) - frozenset(ENDED),
}


def after(operation: str, status: JobStatus) -> JobStatus | None:
    """The status ``operation`` moves a job to from ``status``; None if it is refused."""
    if operation in MARKS:
        return status if status in MARKS[operation] else None
    return MOVES.get((operation, status))


@cache
def serial_histories(start: JobStatus, operations: tuple[str, ...]) -> frozenset:
    """Every (moves in order, final status) that running ``operations`` one after another can give."""
    histories = set()
    for order in set(permutations(operations)):
        status, moves = start, []
        for operation in order:
            target = after(operation, status)
            if target is not None:
                moves.append(operation)
                status = target
        histories.add((tuple(moves), status))
    return frozenset(histories)

