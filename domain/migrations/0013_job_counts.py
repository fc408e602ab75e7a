"""Jobs counted by status as they change, for ``/metrics``; indexes for its time windows.

``job_count`` holds the jobs in each status (hidden ones left out) and ``job_count_change``
the changes not yet folded into it (``domain.liveops.platform_job_counts``). Triggers on
``job`` append a change for every insert, delete, and update of ``status`` or ``hidden``,
whichever statement makes it, so the counts cannot drift from the table. The counts start
from the rows already there, and every status has its row.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

STATUSES = ("PENDING", "RUNNING", "WAITING", "STOPPING", "STOPPED", "CANCELING", "CANCELED", "FINISHED", "FAILED")

SQLITE_TRIGGERS = (
    """CREATE TRIGGER job_counted_insert AFTER INSERT ON job WHEN NOT NEW.hidden
    BEGIN INSERT INTO job_count_change (status, delta) VALUES (NEW.status, 1); END""",
    """CREATE TRIGGER job_counted_delete AFTER DELETE ON job WHEN NOT OLD.hidden
    BEGIN INSERT INTO job_count_change (status, delta) VALUES (OLD.status, -1); END""",
    """CREATE TRIGGER job_counted_update AFTER UPDATE OF status, hidden ON job
    WHEN OLD.status <> NEW.status OR OLD.hidden <> NEW.hidden
    BEGIN
        INSERT INTO job_count_change (status, delta) SELECT OLD.status, -1 WHERE NOT OLD.hidden;
        INSERT INTO job_count_change (status, delta) SELECT NEW.status, 1 WHERE NOT NEW.hidden;
    END""",
)

POSTGRES_TRIGGERS = (
    """CREATE FUNCTION job_counted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' AND NOT OLD.hidden THEN
            INSERT INTO job_count_change (status, delta) VALUES (OLD.status, -1);
        END IF;
        IF TG_OP <> 'DELETE' AND NOT NEW.hidden THEN
            INSERT INTO job_count_change (status, delta) VALUES (NEW.status, 1);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER job_counted_insert_delete AFTER INSERT OR DELETE ON job
    FOR EACH ROW EXECUTE FUNCTION job_counted()""",
    """CREATE TRIGGER job_counted_update AFTER UPDATE OF status, hidden ON job FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.hidden IS DISTINCT FROM NEW.hidden)
    EXECUTE FUNCTION job_counted()""",
)


async def count_jobs(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    triggers = POSTGRES_TRIGGERS if schema_editor.DIALECT == "postgres" else SQLITE_TRIGGERS
    for statement in triggers:
        await client.execute_script(statement)
    values = ", ".join(f"('{status}', 0)" for status in STATUSES)
    await client.execute_script(f"INSERT INTO job_count (status, jobs) VALUES {values}")
    await client.execute_script(
        "UPDATE job_count SET jobs = (SELECT COUNT(*) FROM job WHERE job.status = job_count.status AND NOT job.hidden)"
    )


async def stop_counting(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    for trigger in ("job_counted_insert", "job_counted_delete", "job_counted_update", "job_counted_insert_delete"):
        await client.execute_script(
            f"DROP TRIGGER IF EXISTS {trigger} ON job" if schema_editor.DIALECT == "postgres" else f"DROP TRIGGER IF EXISTS {trigger}"
        )
    if schema_editor.DIALECT == "postgres":
        await client.execute_script("DROP FUNCTION IF EXISTS job_counted()")


class Migration(migrations.Migration):
    dependencies = [('jobtower', '0012_platform_ceilings')]

    initial = False

    operations = [
        ops.CreateModel(
            name='JobCount',
            fields=[
                ('status', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=12)),
                ('jobs', fields.BigIntField(default=0)),
            ],
            options={'table': 'job_count', 'app': 'jobtower', 'pk_attr': 'status', 'table_description': 'The jobs in each status over every tenant, hidden jobs left out: what ``/metrics``'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JobCountChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('status', fields.CharField(max_length=12)),
                ('delta', fields.IntField()),
            ],
            options={'table': 'job_count_change', 'app': 'jobtower', 'pk_attr': 'id', 'table_description': "One job entering (+1) or leaving (-1) a status's count, not yet folded into ``JobCount``."},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Job',
            index=Index(fields=['status', 'ended_at']),
        ),
        ops.AddIndex(
            model_name='Job',
            index=Index(fields=['started_at']),
        ),
        ops.RunPython(count_jobs, stop_counting),
    ]
