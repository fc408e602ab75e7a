"""Chunks get the statuses of their whole lifecycle; jobs and chunks count interrupted and
canceled records on their own.

Before, a parked chunk was RUNNING without a lease and a chunk handed to the broker was
PENDING under the lease owner ``queued``; interrupted records counted as failed, and
canceled ones in no counter. The new counters default to 0 in the database too, so the
columns can be added to tables that have rows. The data step moves parked chunks to
WAITING, clears the old queue marker and counts every chunk's records again, each job's
from its chunks.

The status column changes only its description: like migration 0002, the change is
made in the migration state only, because ``AlterField`` rebuilds the table on SQLite
without its indexes.
"""

import importlib

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

from domain.statuses import ChunkStatus

AlterFieldState = importlib.import_module("domain.migrations.0002_record_without_foreign_keys").AlterFieldState

_COUNTED = {
    "succeeded": "SUCCEEDED",
    "failed": "FAILED",
    "skipped": "SKIPPED",
    "interrupted": "INTERRUPTED",
    "canceled": "CANCELED",
}


async def move_to_the_new_lifecycle(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    counted = ", ".join(
        f"{column} = (SELECT COUNT(*) FROM record r WHERE r.chunk_id = chunk.id AND r.status = '{status}')"
        for column, status in _COUNTED.items()
    )
    summed = ", ".join(
        f"{column} = (SELECT COALESCE(SUM(c.{column}), 0) FROM chunk c WHERE c.job_id = job.id)"
        for column in (*_COUNTED, "done")
    )
    await schema_editor.client.execute_script(
        "UPDATE chunk SET status = 'WAITING' WHERE status = 'RUNNING' AND lease_owner IS NULL;"
        " UPDATE chunk SET lease_owner = NULL, lease_expires_at = NULL"
        " WHERE status = 'PENDING' AND lease_owner = 'queued';"
        f" UPDATE chunk SET {counted};"
        " UPDATE chunk SET done = succeeded + failed + skipped + interrupted + canceled;"
        f" UPDATE job SET {summed};"
    )


async def move_back(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    await schema_editor.client.execute_script(
        "UPDATE chunk SET status = 'RUNNING' WHERE status = 'WAITING';"
        " UPDATE chunk SET status = 'PENDING' WHERE status = 'QUEUED';"
        " UPDATE chunk SET status = 'COMPLETED' WHERE status = 'INCOMPLETE';"
        " UPDATE chunk SET failed = failed + interrupted;"
        " UPDATE job SET failed = failed + interrupted;"
    )


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0002_record_without_foreign_keys")]

    operations = [
        AlterFieldState(
            model_name="Chunk",
            name="status",
            field=fields.CharEnumField(
                default=ChunkStatus.PENDING,
                description="PENDING: PENDING\nQUEUED: QUEUED\nRUNNING: RUNNING\nWAITING: WAITING\n"
                "COMPLETED: COMPLETED\nINCOMPLETE: INCOMPLETE\nFAILED: FAILED\nSTOPPED: STOPPED\nCANCELED: CANCELED",
                enum_type=ChunkStatus,
                max_length=12,
            ),
        ),
        ops.AddField(model_name="Chunk", name="canceled", field=fields.BigIntField(default=0, db_default=0)),
        ops.AddField(model_name="Chunk", name="interrupted", field=fields.BigIntField(default=0, db_default=0)),
        ops.AddField(model_name="Job", name="canceled", field=fields.BigIntField(default=0, db_default=0)),
        ops.AddField(model_name="Job", name="interrupted", field=fields.BigIntField(default=0, db_default=0)),
        ops.RunPython(move_to_the_new_lifecycle, move_back),
    ]
