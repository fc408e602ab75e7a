"""Record rows without foreign key constraints to their job and chunk, on PostgreSQL.

Checking the two constraints cost PostgreSQL 11 of the 26 CPU-µs it spent on each
record row the workers wrote (bench/README.md). Records are written only under the
chunk's lease, and deleted explicitly with their job (``domain.retention``).

Tortoise's ``AlterField`` would not drop a constraint on PostgreSQL, and on SQLite it
rebuilds the table without its indexes, losing the unique ``(job_id, position)`` key.
So the fields change in the migration state only, and SQL drops the constraints on
PostgreSQL. SQLite keeps them: dropping one there means rebuilding the table.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps


class AlterFieldState(ops.AlterField):
    """An ``AlterField`` that changes the migration state and leaves the database alone."""

    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


async def drop_foreign_keys(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    if schema_editor.DIALECT == "postgres":
        await schema_editor.client.execute_script(
            "ALTER TABLE record DROP CONSTRAINT record_job_id_fkey, DROP CONSTRAINT record_chunk_id_fkey"
        )


async def restore_foreign_keys(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    if schema_editor.DIALECT == "postgres":
        await schema_editor.client.execute_script(
            "ALTER TABLE record"
            " ADD CONSTRAINT record_job_id_fkey FOREIGN KEY (job_id) REFERENCES job (id) ON DELETE CASCADE,"
            " ADD CONSTRAINT record_chunk_id_fkey FOREIGN KEY (chunk_id) REFERENCES chunk (id) ON DELETE CASCADE"
        )


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0001_initial")]

    operations = [
        AlterFieldState(
            model_name="Record",
            name="job",
            field=fields.ForeignKeyField(
                "jobtower.Job", source_field="job_id", db_constraint=False, to_field="id",
                related_name="records", on_delete=OnDelete.CASCADE,
            ),
        ),
        AlterFieldState(
            model_name="Record",
            name="chunk",
            field=fields.ForeignKeyField(
                "jobtower.Chunk", source_field="chunk_id", db_constraint=False, to_field="id",
                related_name="records", on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.RunPython(drop_foreign_keys, restore_foreign_keys),
    ]
