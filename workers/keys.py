"""Every Redis key and stream name Jobtower uses, built in one place."""

from __future__ import annotations

PREFIX = "jobtower"

# The Taskiq streams. "A chunk slot is free" notices name no chunk: the worker that
# reads one takes the fairest ready chunk at that moment. Enumerations have a stream
# of their own, so they never wait behind slots busy running chunks.
FREE_SLOT_STREAM = f"{PREFIX}:free-slots"
ENUMERATION_STREAM = f"{PREFIX}:enumerations"
# Bulk operations to run; a long one never holds up enumerations.
BULK_STREAM = f"{PREFIX}:bulk-operations"
TASK_GROUP = f"{PREFIX}:workers"
# Held by the one dispatcher that schedules; others stand by.
DISPATCHER_LEADER = f"{PREFIX}:dispatcher:leader"
# Pub/sub: new work is ready (a job to enumerate, chunks to run); the leader hands it out at once.
DISPATCHER_WAKEUPS = f"{PREFIX}:dispatcher:wakeups"
# Set by the dispatcher; when it is missing, Redis came back empty and whatever
# was queued in it is gone.
EPOCH = f"{PREFIX}:epoch"


def worker(worker_id: str) -> str:
    """A live worker's presence, refreshed by its heartbeat and expiring with it."""
    return f"{PREFIX}:worker:{worker_id}"


WORKER_PATTERN = f"{PREFIX}:worker:*"


def dispatcher(dispatcher_id: str) -> str:
    """A running dispatcher's presence (leader or standby), refreshed every round."""
    return f"{PREFIX}:dispatchers:{dispatcher_id}"


def tenant_events(tenant_id: int) -> str:
    """Every event of a tenant's jobs, in order: status changes and coalesced progress."""
    return f"{PREFIX}:tenant:{tenant_id}:events"


def progress_throttle(job_id: int) -> str:
    """Exists while a job's last PROGRESS event is too recent for another, from any worker."""
    return f"{PREFIX}:job:{job_id}:progress-throttle"


def job_logs(job_id: int) -> str:
    return f"{PREFIX}:job:{job_id}:logs"


def bulk_operation_updates(operation_id: int) -> str:
    """Prompts that a bulk operation advanced: its subscribers read it again."""
    return f"{PREFIX}:bulk:{operation_id}:updates"


def api_wake(process_id: str) -> str:
    """Written to wake an API process's stream reader when its set of streams changes."""
    return f"{PREFIX}:api:{process_id}:wake"


def requests_in_flight(principal: str) -> str:
    """A principal's GraphQL requests being answered, by any API process, with when each expires."""
    return f"{PREFIX}:api:principal:{principal}:in-flight"


def requests_this_minute(principal: str) -> str:
    """How many GraphQL requests a principal sent in the current window; expires with the window."""
    return f"{PREFIX}:api:principal:{principal}:requests"


def tenant_requests_in_flight(tenant_id: int) -> str:
    """The GraphQL requests of all of a tenant's tokens being answered, with when each expires."""
    return f"{PREFIX}:api:tenant:{tenant_id}:in-flight"


def tenant_requests_this_minute(tenant_id: int) -> str:
    """How many GraphQL requests all of a tenant's tokens sent in the current window."""
    return f"{PREFIX}:api:tenant:{tenant_id}:requests"


def websocket_connections(principal_id: int) -> str:
    """A principal's open GraphQL WebSockets, on any API process, each scored by when its lease ends."""
    return f"{PREFIX}:ws:principal:{principal_id}:connections"


def websocket_operations(principal_id: int) -> str:
    """A principal's active operations over its WebSockets, on any API process, each scored by
    when its lease ends."""
    return f"{PREFIX}:ws:principal:{principal_id}:operations"


WEBSOCKET_OPERATIONS_PATTERN = f"{PREFIX}:ws:principal:*:operations"


def shared_metric(name: str) -> str:
    """A counter or histogram that worker and dispatcher processes add to, and every API process's
    ``/metrics`` reads (``workers.shared_metrics``): a hash of its counts."""
    return f"{PREFIX}:metrics:{name}"

