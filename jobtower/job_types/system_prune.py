"""``system.prune``: the platform's retention, deleting jobs of the tenant that ended long ago.

One record, one step: ``prune`` calls ``domain.retention.prune_finished_jobs``
for the job's own tenant (a tenant's system job never touches another
tenant's data). It cannot be stopped halfway or restarted; the next scheduled
run picks up whatever is left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from domain.models import Job
from domain.registry import JobType, RecordContext, Step, registry
from domain.retention import DEFAULT_BATCH, prune_finished_jobs
from jobtower.job_types.simulated import with_defaults

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "olderThanDays": {
            "type": "integer",
            "minimum": 1,
            "maximum": 3650,
            "default": 30,
            "description": "Jobs that ended more than this many days ago are deleted.",
        },
        "batch": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10_000,
            "default": DEFAULT_BATCH,
            "description": "Rows deleted per statement.",
        },
    },
    "additionalProperties": False,
}


async def one_run(params: Mapping[str, Any]) -> AsyncIterator[str]:
    yield "finished-jobs"


async def prune(context: RecordContext) -> None:
    options = with_defaults(context.params, PARAMS_SCHEMA)
    tenant_id = (await Job.filter(id=context.job_id).values_list("tenant_id", flat=True))[0]
    deleted = await prune_finished_jobs(
        timedelta(days=options["olderThanDays"]), options["batch"], tenant_id=tenant_id
    )
    context.set_detail({"deletedJobs": deleted, "olderThanDays": options["olderThanDays"]})
    context.log(
        "info",
        f"pruned {deleted} jobs that ended over {options['olderThanDays']} days ago",
        deletedJobs=deleted,
    )


SYSTEM_PRUNE = registry.register(
    JobType(
        name="system.prune",
        label="Prune old jobs",
        description="Deletes jobs that ended longer ago than the retention period, with their history.",
        enumerate=one_run,
        steps=(Step("prune", prune),),
        system=True,
        stoppable=False,
        not_stoppable_reason="A prune stopped midway would leave jobs half deleted: it runs to the end.",
        restartable=False,
        not_restartable_reason="The nightly schedule prunes again: run the schedule now instead.",
        default_chunk_size=1,
        # Its one record shows progress only at the end; a large backlog takes a while.
        stall_threshold=timedelta(hours=1),
        estimate_records=lambda params: 1,
        params_schema=PARAMS_SCHEMA,
    )
)
