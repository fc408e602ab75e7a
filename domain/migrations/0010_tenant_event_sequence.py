"""Job events numbered per tenant; when a waiting record began to wait; recent chunk ends indexed.

``job_event.tenant_id`` and ``job_event.tenant_seq`` are NOT NULL, so, as in 0004, SQL adds
them with a default the existing rows take, then fills them in: each event gets its job's
tenant, and the tenant's events are numbered 1, 2, … in id order (the best order known for
events recorded before the numbering existed). Each tenant's ``event_seq`` then starts at its
last number. PostgreSQL drops the defaults; SQLite would rebuild the table to do so, and
every insert names the columns anyway. The migration state gets the fields as the model
declares them, and the unique ``(tenant_id, tenant_seq)`` key is added once they are filled.

``record.waiting_since`` is NULL for the rows that waited before it existed.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps


class AddFieldState(ops.AddField):
    """An ``AddField`` that changes the migration state and leaves the database alone."""

    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


async def number_tenant_events(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    statements = [
        "ALTER TABLE job_event ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE job_event ADD COLUMN tenant_seq BIGINT NOT NULL DEFAULT 0",
        "UPDATE job_event SET tenant_id = (SELECT job.tenant_id FROM job WHERE job.id = job_event.job_id)",
        "UPDATE job_event SET tenant_seq = numbered.n FROM ("
        " SELECT id, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY id) AS n FROM job_event"
        ") AS numbered WHERE numbered.id = job_event.id",
        "UPDATE tenant SET event_seq = COALESCE("
        " (SELECT MAX(tenant_seq) FROM job_event WHERE job_event.tenant_id = tenant.id), 0)",
    ]
    if schema_editor.DIALECT == "postgres":
        statements += [
            "ALTER TABLE job_event ALTER COLUMN tenant_id DROP DEFAULT",
            "ALTER TABLE job_event ALTER COLUMN tenant_seq DROP DEFAULT",
        ]
    for statement in statements:
        await schema_editor.client.execute_script(statement)


async def drop_tenant_numbers(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    for column in ("tenant_seq", "tenant_id"):
        await schema_editor.client.execute_script(f"ALTER TABLE job_event DROP COLUMN {column}")


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0009_tenant_settings")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Tenant",
            name="event_seq",
            field=fields.BigIntField(default=0, db_default=0),
        ),
        AddFieldState(
            model_name="JobEvent",
            name="tenant",
            field=fields.ForeignKeyField(
                "jobtower.Tenant", source_field="tenant_id", db_constraint=False, to_field="id",
                related_name="events", on_delete=OnDelete.CASCADE,
            ),
        ),
        AddFieldState(
            model_name="JobEvent",
            name="tenant_seq",
            field=fields.BigIntField(),
        ),
        ops.RunPython(number_tenant_events, drop_tenant_numbers),
        ops.AddConstraint(
            model_name="JobEvent",
            constraint=UniqueConstraint(fields=("tenant", "tenant_seq"), name=None),
        ),
        ops.AddField(
            model_name="Record",
            name="waiting_since",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name="Chunk",
            index=Index(fields=["status", "ended_at"]),
        ),
    ]
