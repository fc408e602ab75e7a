"""Records and log lines kept by storage partition, so retention drops a big job's in constant time.

``storage_partition`` lists the partitions, and ``job``, ``record`` and ``job_log`` get
``partition_id`` (domain.partitions says how jobs are placed). The rows already there go to
one partition, the current week's, which retention drops once every job in it is gone.

On PostgreSQL ``record`` and ``job_log`` become tables partitioned by LIST on
``partition_id``: each is renamed, a partitioned table with the same columns and defaults
takes its name and its rows (through the partition for the rows already there), the old
table is dropped, and the keys and indexes are made again under the names they had, the
primary and the unique key extended by ``partition_id`` as PostgreSQL requires. Log lines
lose their foreign key to ``job``, as records lost theirs (0002). Moving the rows takes
time and space in proportion to them, under an exclusive lock: fine for a small database;
a large one should run it in a maintenance window (it needs the tables' size again on disk
meanwhile).

SQLite keeps plain tables and its foreign keys; the new columns are added with the
partition of the rows already there as their default, which SQLite cannot drop again
(every write names the partition anyway). The fields change in the migration state
only (as in 0002), so Tortoise's operations, which would rebuild SQLite's tables, stay
out of the way.
"""

from datetime import UTC, datetime, timedelta

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps


class AddFieldState(ops.AddField):
    """An ``AddField`` that changes the migration state; ``partition_existing_rows`` adds the columns."""

    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


class AlterFieldState(ops.AlterField):
    """An ``AlterField`` that changes the migration state; the foreign key goes with its table."""

    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


# Each partitioned table's keys and indexes beside its primary key, as the models declare them.
UNIQUE = {"record": [["job_id", "position"]], "job_log": []}
INDEXES = {
    "record": [["chunk_id", "position"], ["job_id", "status"]],
    "job_log": [["job_id", "at"], ["job_id", "level", "at"]],
}


def this_week() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday())


async def partition_existing_rows(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    rows = await client.execute_query_dict(
        "INSERT INTO storage_partition (week_start, created_at) VALUES (?, ?) RETURNING id"
        if schema_editor.DIALECT == "sqlite"
        else "INSERT INTO storage_partition (week_start, created_at) VALUES ($1, $2) RETURNING id",
        [this_week(), datetime.now(UTC)],
    )
    partition = rows[0]["id"]
    if schema_editor.DIALECT != "postgres":
        for table in ("job", "record", "job_log"):
            await client.execute_script(f"ALTER TABLE {table} ADD COLUMN partition_id INT NOT NULL DEFAULT {partition}")
        return
    await client.execute_script(
        f"ALTER TABLE job ADD COLUMN partition_id INT NOT NULL DEFAULT {partition};"
        " ALTER TABLE job ALTER COLUMN partition_id DROP DEFAULT"
    )
    for table in ("record", "job_log"):
        await client.execute_script(_partitioned(schema_editor, table, partition))


def _partitioned(schema_editor: BaseSchemaEditor, table: str, partition: int) -> str:
    old = f"{table}_unpartitioned"
    statements = [
        f"ALTER TABLE {table} ADD COLUMN partition_id INT NOT NULL DEFAULT {partition}",
        f"ALTER TABLE {table} RENAME TO {old}",
        # The id sequence outlives the old table.
        f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE",
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY LIST (partition_id)",
        f"ALTER TABLE {table} ALTER COLUMN partition_id DROP DEFAULT",
        f"CREATE TABLE {table}_p{partition} PARTITION OF {table} FOR VALUES IN ({partition})",
        f"INSERT INTO {table} SELECT * FROM {old}",
        f"DROP TABLE {old}",
        f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id",
    ]
    return ";\n".join(statements + _keys(schema_editor, table, partitioned=True))


async def unpartition(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    if schema_editor.DIALECT == "postgres":
        for table in ("record", "job_log"):
            await client.execute_script(_unpartitioned(schema_editor, table))
        await client.execute_script(
            "ALTER TABLE job_log ADD CONSTRAINT job_log_job_id_fkey"
            " FOREIGN KEY (job_id) REFERENCES job (id) ON DELETE CASCADE"
        )
    for table in ("job", "record", "job_log"):
        await client.execute_script(f"ALTER TABLE {table} DROP COLUMN partition_id")


def _unpartitioned(schema_editor: BaseSchemaEditor, table: str) -> str:
    old = f"{table}_partitioned"
    statements = [
        f"ALTER TABLE {table} RENAME TO {old}",
        f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE",
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS)",
        f"INSERT INTO {table} SELECT * FROM {old}",
        f"DROP TABLE {old}",
        f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id",
    ]
    return ";\n".join(statements + _keys(schema_editor, table, partitioned=False))


def _keys(schema_editor: BaseSchemaEditor, table: str, *, partitioned: bool) -> list[str]:
    """The primary key, unique constraints and indexes of a rebuilt ``table``: a partitioned
    table's keys hold ``partition_id`` too, as PostgreSQL requires."""
    partition = ", partition_id" if partitioned else ""
    statements = [f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id{partition})"]
    for columns in UNIQUE[table]:
        name = schema_editor._generate_index_name_for_table("uid", table, columns)
        statements.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({_columns(columns)}{partition})")
    for columns in INDEXES[table]:
        name = schema_editor._generate_index_name_for_table("idx", table, columns)
        statements.append(f"CREATE INDEX {name} ON {table} ({_columns(columns)})")
    return statements


def _columns(names: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0015_job_trace_context")]

    initial = False

    operations = [
        ops.CreateModel(
            name="StoragePartition",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("week_start", fields.DatetimeField(null=True, unique=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "storage_partition",
                "app": "jobtower",
                "pk_attr": "id",
                "table_description": "Where the records and log lines of some jobs are kept: on PostgreSQL one partition of",
            },
            bases=["Model"],
        ),
        AddFieldState(model_name="Job", name="partition_id", field=fields.IntField()),
        AddFieldState(model_name="Record", name="partition_id", field=fields.IntField()),
        AddFieldState(model_name="JobLog", name="partition_id", field=fields.IntField()),
        AlterFieldState(
            model_name="JobLog",
            name="job",
            field=fields.ForeignKeyField(
                "jobtower.Job", source_field="job_id", db_constraint=False, to_field="id",
                related_name="logs", on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.RunPython(partition_existing_rows, unpartition),
        ops.AddIndex(model_name="Job", index=Index(fields=["partition_id"])),
    ]
