"""Job events say what kind of actor caused them, and mark what the relay has still to publish.

``actor_kind`` is NOT NULL, so the column is added with SQL and a default the
existing rows take, then filled in from what they recorded: an operator's
principal has a kind; the events the work reports (a chunk started, all waiting,
work done, drained, run failed) were the workers'; the rest the system's.
PostgreSQL then drops the default; SQLite would rebuild the table to do so, and
every insert names the column anyway. The migration state gets the field as the
model declares it.

``awaiting_relay`` is added NULL for the existing rows: they are published already.
"""

from tortoise import fields, migrations
from tortoise.indexes import PartialIndex
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

from domain.access import ActorKind

WORKER_OPERATIONS = ("CHUNK_STARTED", "ALL_WAITING", "WORK_DONE", "DRAINED", "RUN_FAILED")


class AddFieldState(ops.AddField):
    """An ``AddField`` that changes the migration state and leaves the database alone."""

    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


async def add_actor_kinds(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    postgres = schema_editor.DIALECT == "postgres"
    operation = "data->>'operation'" if postgres else "json_extract(data, '$.operation')"
    workers = ", ".join(f"'{name}'" for name in WORKER_OPERATIONS)
    statements = [
        f"ALTER TABLE job_event ADD COLUMN actor_kind VARCHAR(12) NOT NULL DEFAULT '{ActorKind.SYSTEM.value}'",
        "UPDATE job_event SET actor_kind ="
        " (SELECT kind FROM principal WHERE principal.id = job_event.actor_principal_id)"
        " WHERE actor_principal_id IS NOT NULL",
        f"UPDATE job_event SET actor_kind = '{ActorKind.WORKER.value}'"
        f" WHERE actor_principal_id IS NULL AND {operation} IN ({workers})",
    ]
    if postgres:
        statements.append("ALTER TABLE job_event ALTER COLUMN actor_kind DROP DEFAULT")
    for statement in statements:
        await schema_editor.client.execute_script(statement)


async def drop_actor_kinds(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    await schema_editor.client.execute_script("ALTER TABLE job_event DROP COLUMN actor_kind")


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0003_chunk_lifecycle_and_counts")]

    operations = [
        AddFieldState(
            model_name="JobEvent",
            name="actor_kind",
            field=fields.CharEnumField(
                description="USER: USER\nBOT: BOT\nSYSTEM: SYSTEM\nWORKER: WORKER", enum_type=ActorKind, max_length=12
            ),
        ),
        ops.RunPython(add_actor_kinds, drop_actor_kinds),
        ops.AddField(
            model_name="JobEvent",
            name="awaiting_relay",
            field=fields.BooleanField(null=True, default=True),
        ),
        ops.AddIndex(
            model_name="JobEvent",
            index=PartialIndex(fields=["id"], condition={"awaiting_relay": True}),
        ),
    ]
