"""Tortoise models: the persisted state of tenants, access, jobs and their history.

Status columns are only ever written by the verbs in ``domain.jobs`` (jobs),
``domain.chunks`` (chunks), ``domain.execution`` (records) and ``domain.bulk`` (bulk
operations); everything else reads them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index, PartialIndex
from tortoise.models import Model

from domain.access import DISPLAY_PREFIX_LENGTH, ActorKind, PrincipalKind, Role
from domain.statuses import (
    BulkAction,
    BulkOperationStatus,
    BulkTargetStatus,
    ChunkStatus,
    JobOutcome,
    JobStatus,
    RecordStatus,
)

STATUS_LENGTH = 12


class Tenant(Model):
    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=63, unique=True)
    name = fields.CharField(max_length=200)
    # None means unlimited.
    jobs_per_month = fields.BigIntField(null=True)
    records_per_month = fields.BigIntField(null=True)
    # The last job event's per-tenant sequence number (``JobEvent.tenant_seq``).
    event_seq = fields.BigIntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tenant"


class Principal(Model):
    # A user or bot of one tenant; ``PLATFORM`` principals reach every tenant.

    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "jobtower.Tenant", related_name="principals"
    )
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(PrincipalKind, max_length=STATUS_LENGTH)
    role = fields.CharEnumField(Role, max_length=STATUS_LENGTH)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "principal"


class ApiToken(Model):
    id = fields.BigIntField(primary_key=True)
    principal: fields.ForeignKeyRelation[Principal] = fields.ForeignKeyField(
        "jobtower.Principal", related_name="tokens"
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    # The first characters (domain.access.display_prefix), safe to show in token lists.
    display_prefix = fields.CharField(max_length=DISPLAY_PREFIX_LENGTH)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


class Schedule(Model):
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "jobtower.Tenant", related_name="schedules"
    )
    name = fields.CharField(max_length=200)
    type = fields.CharField(max_length=100)
    params = fields.JSONField(default=dict)
    cron = fields.CharField(max_length=100)
    # The IANA zone the cron expression is read in; next_run_at is stored in UTC.
    timezone = fields.CharField(max_length=64, default="UTC", db_default="UTC")
    enabled = fields.BooleanField(default=True)
    next_run_at = fields.DatetimeField(null=True, db_index=True)
    last_run_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "schedule"
        unique_together = (("tenant", "name"),)


class StoragePartition(Model):
    """Where the records and log lines of some jobs are kept: on PostgreSQL one partition of
    ``record`` and one of ``job_log`` (domain.partitions). Either a week's, shared by the small
    jobs admitted in it, or one big job's own."""

    id = fields.IntField(primary_key=True)
    # The start (Monday 00:00 UTC) of the week whose small jobs it keeps; None for a job's own.
    week_start = fields.DatetimeField(null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "storage_partition"


class Job(Model):
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "jobtower.Tenant", related_name="jobs"
    )
    type = fields.CharField(max_length=100)
    name = fields.CharField(max_length=200)
    status = fields.CharEnumField(JobStatus, max_length=STATUS_LENGTH, default=JobStatus.PENDING)
    outcome = fields.CharEnumField(JobOutcome, max_length=STATUS_LENGTH, null=True)
    error = fields.TextField(null=True)
    params = fields.JSONField(default=dict)
    chunk_size = fields.IntField()
    # Flags copied from the job type at admission, so a job keeps the rules it started with.
    system = fields.BooleanField(default=False)
    stoppable = fields.BooleanField(default=True)
    restartable = fields.BooleanField(default=True)
    low_priority = fields.BooleanField(default=False)
    hidden = fields.BooleanField(default=False)
    run_by: fields.ForeignKeyNullableRelation[Principal] = fields.ForeignKeyField(
        "jobtower.Principal", related_name="jobs", null=True
    )
    parent: fields.ForeignKeyNullableRelation[Job] = fields.ForeignKeyField(
        "jobtower.Job", related_name="children", null=True
    )
    # The top of the job tree; a root job points at itself. Fair scheduling groups by it.
    root: fields.ForeignKeyNullableRelation[Job] = fields.ForeignKeyField(
        "jobtower.Job", related_name="descendants", null=True
    )
    restarted_from: fields.ForeignKeyNullableRelation[Job] = fields.ForeignKeyField(
        "jobtower.Job", related_name="restarts", null=True
    )
    # A retry job runs only the records that failed in ``restarted_from``.
    retry_failed = fields.BooleanField(default=False)
    # The job type's step names at admission; journeys refer to steps by index.
    step_names = fields.JSONField(default=list)
    # All chunks exist once the records are enumerated; until then a worker
    # holding the enumeration lease creates them.
    enumerated = fields.BooleanField(default=False)
    enumeration_lease_expires_at = fields.DatetimeField(null=True)
    # A deleted schedule's runs stay, unlinked.
    schedule: fields.ForeignKeyNullableRelation[Schedule] = fields.ForeignKeyField(
        "jobtower.Schedule", related_name="runs", null=True, on_delete=fields.SET_NULL
    )
    idempotency_key = fields.CharField(max_length=200, null=True)
    # The trace the job was admitted in (domain.trace_context), which its work continues.
    trace_context = fields.JSONField(null=True)
    # Records admission holds for the job in its month's plan usage (domain.usage),
    # given back when the job ends.
    records_reserved = fields.BigIntField(default=0, db_default=0)
    # The last event's per-job sequence number.
    seq = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    last_progress_at = fields.DatetimeField(null=True)
    # Progress counters (domain.counts), raised in the transaction that writes the records.
    # ``total`` is None until the records are enumerated.
    total = fields.BigIntField(null=True)
    done = fields.BigIntField(default=0)
    succeeded = fields.BigIntField(default=0)
    failed = fields.BigIntField(default=0)
    skipped = fields.BigIntField(default=0)
    interrupted = fields.BigIntField(default=0, db_default=0)
    canceled = fields.BigIntField(default=0, db_default=0)
    error_logs = fields.BigIntField(default=0)
    # The StoragePartition of its records and log lines, chosen at admission and never changed.
    partition_id = fields.IntField()

    class Meta:
        table = "job"
        unique_together = (("tenant", "idempotency_key"),)
        indexes = (
            # The job list: newest first, keyset-paginated, per tenant.
            Index(fields=("tenant_id", "created_at", "id")),
            # The same as operators see it by default (no system or hidden jobs): its page and
            # its totalCount read only this index.
            Index(fields=("tenant_id", "system", "hidden", "created_at", "id")),
            Index(fields=("tenant_id", "status", "created_at")),
            Index(fields=("tenant_id", "type", "created_at")),
            # The dispatcher and the live-ops counts.
            Index(fields=("status", "low_priority")),
            Index(fields=("root_id", "status")),
            # The platform's recent failures and waits (``/metrics``) and the statistics of the
            # hours not yet rolled up (``domain.rollup``): windows of these indexes, not scans of
            # the table's history.
            Index(fields=("status", "ended_at")),
            Index(fields=("created_at",)),
            Index(fields=("started_at",)),
            Index(fields=("ended_at",)),
            # Whether a partition still keeps a job (domain.partitions).
            Index(fields=("partition_id",)),
        )


class JobCount(Model):
    """The jobs in each status over every tenant, hidden jobs left out: what ``/metrics``
    reports, read from these rows instead of counted in the job table.

    The database keeps them, whichever statement changes a job: triggers on ``job`` (migration
    0013) append each change to ``job_count_change``, and ``domain.liveops.platform_job_counts``
    folds those into these rows. Appending takes no lock that another transaction waits for,
    where incrementing one row per status would serialize, and could deadlock, concurrent
    transitions."""

    status = fields.CharField(max_length=STATUS_LENGTH, primary_key=True)
    jobs = fields.BigIntField(default=0)

    class Meta:
        table = "job_count"


class JobCountChange(Model):
    """One job entering (+1) or leaving (-1) a status's count, not yet folded into ``JobCount``."""

    id = fields.BigIntField(primary_key=True)
    status = fields.CharField(max_length=STATUS_LENGTH)
    delta = fields.IntField()

    class Meta:
        table = "job_count_change"


class Chunk(Model):
    # Records ``[range_start, range_end)`` of a job's enumeration; ``cursor`` is the next to run.
    # ``status`` is written only by the verbs of ``domain.chunks``. A worker holds a QUEUED or
    # RUNNING chunk under ``lease_owner``; a chunk that a job's verb stopped, failed or canceled
    # under a worker keeps the owner until that worker has written what it had in flight.

    id = fields.BigIntField(primary_key=True)
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "jobtower.Job", related_name="chunks"
    )
    index = fields.IntField()
    status = fields.CharEnumField(
        ChunkStatus, max_length=STATUS_LENGTH, default=ChunkStatus.PENDING
    )
    range_start = fields.BigIntField()
    range_end = fields.BigIntField()
    cursor = fields.BigIntField()
    # The record keys of the range, in order, as the enumeration produced them.
    keys = fields.JSONField(default=list)
    attempts = fields.IntField(default=0)
    lease_owner = fields.CharField(max_length=100, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    # When it last became PENDING (written, requeued, resumed, answered): how long ready work
    # waits for a slot. None on chunks written before it was kept.
    ready_at = fields.DatetimeField(null=True)
    # Progress counters (domain.counts), raised with the job's as records are written.
    done = fields.BigIntField(default=0)
    succeeded = fields.BigIntField(default=0)
    failed = fields.BigIntField(default=0)
    skipped = fields.BigIntField(default=0)
    interrupted = fields.BigIntField(default=0, db_default=0)
    canceled = fields.BigIntField(default=0, db_default=0)

    class Meta:
        table = "chunk"
        unique_together = (("job", "index"),)
        indexes = (
            Index(fields=("status", "lease_expires_at")),
            # A free slot's claim: does a job have a ready chunk, and which is its first.
            Index(fields=("job_id", "status", "index")),
            # How long chunks took lately, for the start estimates (domain.estimates).
            Index(fields=("status", "ended_at")),
        )


class Record(Model):
    id = fields.BigIntField(primary_key=True)
    # No foreign key constraints: checking them cost PostgreSQL as much as the rest of
    # writing a record row. Rows are written only under the chunk's lease and deleted
    # with their job or their partition (domain.retention, domain.partitions); migration
    # 0002 says where the constraints stay.
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "jobtower.Job", related_name="records", db_constraint=False
    )
    chunk: fields.ForeignKeyRelation[Chunk] = fields.ForeignKeyField(
        "jobtower.Chunk", related_name="records", db_constraint=False
    )
    # Place in the job's enumeration; the chunk cursor counts in positions.
    position = fields.BigIntField()
    key = fields.CharField(max_length=255)
    status = fields.CharEnumField(
        RecordStatus, max_length=STATUS_LENGTH, default=RecordStatus.PENDING
    )
    error = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    # The timed steps, compact: see domain.journey.
    journey = fields.JSONField(default=list)
    # What ``complete_wait`` delivered to the waiting step.
    wait_payload = fields.JSONField(null=True)
    # When a waiting record continues without an answer.
    wait_deadline = fields.DatetimeField(null=True)
    # When the record's step asked for the answer it waits for; set while it is WAITING.
    waiting_since = fields.DatetimeField(null=True)
    # The job's partition (domain.partitions): on PostgreSQL, the partition the row lives in.
    partition_id = fields.IntField()

    class Meta:
        table = "record"
        # One row per record of a job: a record cannot get two outcomes.
        unique_together = (("job", "position"),)
        indexes = (
            Index(fields=("chunk_id", "position")),
            Index(fields=("job_id", "status")),
        )


class JobEvent(Model):
    # The history of a job, and the outbox the relay publishes to the live streams.
    # ``seq`` is per job, gap-free and strictly increasing. ``tenant_seq`` numbers the
    # events of the job's tenant, strictly increasing in the order they commit; only
    # pruned jobs leave gaps (``domain.jobs._record_event``).

    id = fields.BigIntField(primary_key=True)
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "jobtower.Job", related_name="events"
    )
    seq = fields.BigIntField()
    # The job's tenant, copied so a tenant's events are read in order by one index. No
    # constraint: the job's has it already.
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "jobtower.Tenant", related_name="events", db_constraint=False
    )
    tenant_seq = fields.BigIntField()
    kind = fields.CharField(max_length=32)
    from_status = fields.CharEnumField(JobStatus, max_length=STATUS_LENGTH, null=True)
    to_status = fields.CharEnumField(JobStatus, max_length=STATUS_LENGTH)
    # Who or what caused the event: the actor's name and kind, and its principal if it has one.
    actor = fields.CharField(max_length=200)
    actor_kind = fields.CharEnumField(ActorKind, max_length=STATUS_LENGTH)
    actor_principal: fields.ForeignKeyNullableRelation[Principal] = fields.ForeignKeyField(
        "jobtower.Principal", related_name="events", null=True
    )
    at = fields.DatetimeField()
    # The operation that moved the job, and the fields a change that is not a move set.
    data = fields.JSONField(default=dict)
    # TRUE until the relay has published the event, then NULL. An id order cannot tell
    # what is left (ids are taken before commit, and transactions commit in any order);
    # the marker can, and the partial index holds only what is left. NULL rather than
    # FALSE: the rows recorded before the marker existed read as published.
    awaiting_relay = fields.BooleanField(null=True, default=True)

    class Meta:
        table = "job_event"
        unique_together = (("job", "seq"), ("tenant", "tenant_seq"))
        indexes = (PartialIndex(fields=("id",), condition={"awaiting_relay": True}),)


class JobLog(Model):
    id = fields.BigIntField(primary_key=True)
    # No foreign key constraint on PostgreSQL, as for records: a partition's lines go with
    # their partition (domain.partitions), which a constraint to ``job`` would have to follow.
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "jobtower.Job", related_name="logs", db_constraint=False
    )
    at = fields.DatetimeField()
    level = fields.CharField(max_length=8)
    message = fields.TextField()
    fields_ = fields.JSONField(default=dict, source_field="fields")
    chunk_index = fields.IntField(null=True)
    record_key = fields.CharField(max_length=255, null=True)
    # The job's partition, as for records.
    partition_id = fields.IntField()

    class Meta:
        table = "job_log"
        indexes = (Index(fields=("job_id", "at")), Index(fields=("job_id", "level", "at")))


class PlanUsage(Model):
    # What a tenant used in one calendar month (UTC), and what its running jobs hold:
    # both count against its limits (domain.usage).

    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "jobtower.Tenant", related_name="usage"
    )
    month = fields.CharField(max_length=7)  # "2026-11"
    jobs_used = fields.BigIntField(default=0)
    records_used = fields.BigIntField(default=0)
    # What the jobs admitted this month and not ended yet may still process.
    records_reserved = fields.BigIntField(default=0, db_default=0)
    # The root jobs admitted in the current minute (starting at ``minute_start``): the
    # platform's per-minute ceiling (domain.usage.Ceilings).
    minute_start = fields.DatetimeField(null=True)
    minute_jobs = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "plan_usage"
        unique_together = (("tenant", "month"),)


class SyncSize(Model):
    # The chunk size a tenant chose for its jobs of one type (domain.sync_sizes); without a
    # row the type's default applies.

    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "jobtower.Tenant", related_name="sync_sizes"
    )
    job_type = fields.CharField(max_length=100)
    chunk_size = fields.IntField()

    class Meta:
        table = "sync_size"
        unique_together = (("tenant", "job_type"),)


class BulkOperation(Model):
    # One action over the jobs chosen when it was started (its targets), applied in the
    # background as the principal who started it (domain.bulk, workers.bulk). A runner holds
    # an open operation under a lease: the dispatcher's hand-out until a worker takes it
    # (``lease_owner`` None), then that worker's, extended every batch.

    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "jobtower.Tenant", related_name="bulk_operations"
    )
    action = fields.CharEnumField(BulkAction, max_length=24)
    status = fields.CharEnumField(
        BulkOperationStatus, max_length=STATUS_LENGTH, default=BulkOperationStatus.PENDING
    )
    created_by: fields.ForeignKeyRelation[Principal] = fields.ForeignKeyField(
        "jobtower.Principal", related_name="bulk_operations"
    )
    # Targets, and how many have their result; raised in the transaction that records each.
    total = fields.BigIntField()
    done = fields.BigIntField(default=0)
    succeeded = fields.BigIntField(default=0)
    failed = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    lease_owner = fields.CharField(max_length=100, null=True)
    lease_expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "bulk_operation"
        indexes = (
            # A tenant's operations, newest first.
            Index(fields=("tenant_id", "id")),
            # The dispatcher's hand-out.
            Index(fields=("status", "lease_expires_at")),
        )


class BulkTarget(Model):
    # A job a bulk operation acts on, and what the verb answered for it.

    id = fields.BigIntField(primary_key=True)
    operation: fields.ForeignKeyRelation[BulkOperation] = fields.ForeignKeyField(
        "jobtower.BulkOperation", related_name="targets"
    )
    # Not a foreign key: an id given that names no job the creator may see is a target too
    # (its verb answers NOT_FOUND), and a job pruned meanwhile leaves its result behind.
    job_id = fields.BigIntField()
    status = fields.CharEnumField(BulkTargetStatus, max_length=STATUS_LENGTH, default=BulkTargetStatus.PENDING)
    error_code = fields.CharField(max_length=32, null=True)
    error_message = fields.TextField(null=True)

    class Meta:
        table = "bulk_target"
        unique_together = (("operation", "job_id"),)
        # The runner's next batch (PENDING, in job order) and the page of errors (FAILED).
        indexes = (Index(fields=("operation_id", "status", "job_id")),)


class StatisticsGeneration(Model):
    """How many times the statistics of a UTC day were changed after the fact (domain.rollup)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.BigIntField(unique=True)  # days since 1970-01-01
    generation = fields.BigIntField(default=0)

    class Meta:
        table = "statistics_generation"


class StatisticsRollup(Model):
    """One settled bucket of ``jobStatistics`` for one scope, as computed at a day's generation."""

    id = fields.BigIntField(primary_key=True)
    # The scope: one tenant's jobs or every tenant's (0), with or without system jobs, of one
    # job type or of all ("").
    tenant_id = fields.BigIntField()
    with_system = fields.BooleanField()
    type = fields.CharField(max_length=100)
    size = fields.CharField(max_length=4)  # HOUR or DAY
    start = fields.DatetimeField()
    day = fields.BigIntField()
    generation = fields.BigIntField()
    created = fields.BigIntField()
    started = fields.BigIntField()
    finished = fields.BigIntField()
    failed = fields.BigIntField()
    wait_avg = fields.FloatField(null=True)
    wait_min = fields.FloatField(null=True)
    wait_max = fields.FloatField(null=True)
    wait_p95 = fields.FloatField(null=True)
    duration_avg = fields.FloatField(null=True)
    duration_p95 = fields.FloatField(null=True)
    records_processed = fields.BigIntField()

    class Meta:
        table = "statistics_rollup"
        unique_together = (("tenant_id", "with_system", "type", "size", "start"),)
