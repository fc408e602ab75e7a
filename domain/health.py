"""Is a job stalled? The one rule, for one job and as a SQL condition for counting.

A job is stalled when it is RUNNING and either no worker is online to hold its
chunks, or it made no progress for longer than its type's stall threshold. Its
last progress is ``last_progress_at``, or ``started_at`` before its first chunk
boundary. A type no longer registered gets the default threshold.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.models import Job
from domain.registry import DEFAULT_STALL_THRESHOLD, registry
from domain.statuses import JobStatus


def stall_threshold(job_type: str) -> timedelta:
    return registry.get(job_type).stall_threshold if job_type in registry else DEFAULT_STALL_THRESHOLD


def is_stalled(job: Job, now: datetime, workers_online: int) -> bool:
    if job.status is not JobStatus.RUNNING:
        return False
    if workers_online <= 0:
        return True
    last_progress = job.last_progress_at or job.started_at
    return last_progress is not None and now - last_progress > stall_threshold(job.type)


def stalled_condition(now: datetime, workers_online: int) -> tuple[str, list[Any]]:
    """``is_stalled`` as a condition on the job table aliased ``j``, with its parameters."""
    running = "j.status = ?"
    params: list[Any] = [JobStatus.RUNNING.value]
    if workers_online <= 0:
        return running, params
    last_progress = "COALESCE(j.last_progress_at, j.started_at)"
    special = [t for t in registry.all() if t.stall_threshold != DEFAULT_STALL_THRESHOLD]
    cases = []
    for job_type in special:
        cases.append(f"(j.type = ? AND {last_progress} < ?)")
        params += [job_type.name, now - job_type.stall_threshold]
    others = f"{last_progress} < ?"
    if special:
        others = f"(j.type NOT IN ({', '.join('?' for _ in special)}) AND {others})"
        params += [job_type.name for job_type in special]
    params.append(now - DEFAULT_STALL_THRESHOLD)
    return f"{running} AND ({' OR '.join([*cases, others])})", params
