"""Schedules managed through the API: a time zone per schedule, and a deleted schedule's runs kept.

``timezone`` defaults to UTC in the database too, so the schedules written before this
migration keep reading their cron expression in UTC, as they always did.

A job's link to its schedule becomes ``ON DELETE SET NULL``. As in 0002, Tortoise's
``AlterField`` would not change the constraint on PostgreSQL and would rebuild the job
table on SQLite (dropping the old one would cascade to every chunk and event), so the
field changes in the migration state only and SQL swaps the constraint on PostgreSQL.
SQLite keeps ``CASCADE``: ``domain.schedules.delete_schedule`` unlinks the runs itself
before it deletes the schedule, on either backend.
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


def _schedule_link(on_delete: str) -> str:
    return (
        "ALTER TABLE job DROP CONSTRAINT job_schedule_id_fkey,"
        " ADD CONSTRAINT job_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES schedule (id)"
        f" ON DELETE {on_delete}"
    )


async def keep_runs(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    if schema_editor.DIALECT == "postgres":
        await schema_editor.client.execute_script(_schedule_link("SET NULL"))


async def delete_runs(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    if schema_editor.DIALECT == "postgres":
        await schema_editor.client.execute_script(_schedule_link("CASCADE"))


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0007_bulk_operations")]

    initial = False

    operations = [
        AlterFieldState(
            model_name="Job",
            name="schedule",
            field=fields.ForeignKeyField(
                "jobtower.Schedule", source_field="schedule_id", null=True, db_constraint=True,
                to_field="id", related_name="runs", on_delete=OnDelete.SET_NULL,
            ),
        ),
        ops.RunPython(keep_runs, delete_runs),
        ops.AddField(
            model_name="Schedule",
            name="timezone",
            field=fields.CharField(default="UTC", db_default="UTC", max_length=64),
        ),
    ]
