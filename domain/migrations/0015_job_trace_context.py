"""The trace a job was admitted in (``Job.trace_context``), which its work continues, and when
each chunk last became ready to run (``Chunk.ready_at``): how long ready work waits for a worker
slot (``/metrics``). Rows written before stay NULL: no trace, a wait unknown."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('jobtower', '0014_statistics_rollup')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Job',
            name='trace_context',
            field=fields.JSONField(null=True),
        ),
        ops.AddField(
            model_name='Chunk',
            name='ready_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
