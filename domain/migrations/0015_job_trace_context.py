"""When each chunk last became ready to run (``Chunk.ready_at``): how long ready work waits for a
worker slot (``/metrics``). Chunks written before it stay NULL: their wait is unknown."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('jobtower', '0014_statistics_rollup')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Chunk',
            name='ready_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
