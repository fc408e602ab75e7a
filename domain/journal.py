"""The log lines a job's life writes: each status change, in words, with who asked for it.

An operator's way to an answer is "errors, then the job's log": every change a
verb makes to a job is a line there, beside the lines its records write.
"""

from __future__ import annotations

from domain.access import Actor
from domain.logs import LogLevel, LogLine
from domain.models import Job
from domain.statuses import JobStatus, Operation

_SAID: dict[Operation, tuple[LogLevel, str]] = {
    Operation.CHUNK_STARTED: (LogLevel.INFO, "started after waiting {waited:.1f} s"),
    Operation.ALL_WAITING: (LogLevel.INFO, "every open record waits for an answer"),
    Operation.WAIT_COMPLETED: (LogLevel.INFO, "an answer came in; running again"),
    Operation.STOP: (LogLevel.INFO, "stop requested by {actor}"),
    Operation.FORCE_STOP: (
        LogLevel.WARNING,
        "force stop requested by {actor}: records in flight are interrupted; data may be inconsistent",
    ),
    Operation.RESUME: (LogLevel.INFO, "resumed by {actor}"),
    Operation.CANCEL: (LogLevel.INFO, "cancel requested by {actor}"),
    Operation.RUN_FAILED: (LogLevel.ERROR, "failed: {error}"),
}
_ENDED: dict[JobStatus, tuple[LogLevel, str]] = {
    JobStatus.STOPPED: (LogLevel.INFO, "stopped; resumable from its saved cursors"),
    JobStatus.CANCELED: (LogLevel.INFO, "canceled"),
    JobStatus.FINISHED: (
        LogLevel.INFO,
        "finished {outcome}: {succeeded} succeeded, {failed} failed, {skipped} skipped, {interrupted} interrupted",
    ),
}
# Said whatever the job ended in.
_ALWAYS_SAID = frozenset({Operation.FORCE_STOP, Operation.RUN_FAILED})


def transition_line(job: Job, source: JobStatus, operation: Operation, actor: Actor) -> LogLine:
    """The line for ``job`` having moved from ``source`` by ``operation``, as it is now."""
    if job.status in _ENDED and operation not in _ALWAYS_SAID:
        level, text = _ENDED[job.status]
        if operation in (Operation.STOP, Operation.CANCEL):
            text = _SAID[operation][1] + "; " + text  # nothing was in flight: it ended at once
    else:
        level, text = _SAID.get(operation, (LogLevel.INFO, "{source} → {status}"))
    waited = ((job.started_at or job.created_at) - job.created_at).total_seconds()
    message = text.format(
        actor=actor.name,
        waited=waited,
        error=job.error or "",
        outcome=job.outcome.value if job.outcome else "",
        source=source.value,
        status=job.status.value,
        succeeded=job.succeeded,
        failed=job.failed,
        skipped=job.skipped,
        interrupted=job.interrupted,
    )
    return LogLine(
        job_id=job.id,
        partition_id=job.partition_id,
        level=level,
        message=message,
        fields={
            "from": source.value,
            "to": job.status.value,
            "by": actor.name,
            "done": job.done,
            "succeeded": job.succeeded,
            "failed": job.failed,
            "skipped": job.skipped,
            "interrupted": job.interrupted,
            "canceled": job.canceled,
        },
    )
