"""Records reserved at admission: per job, and per tenant and month in the plan usage.

The columns default to 0 in the database too, so rows written before this migration
(and writers that do not know the column) hold no reservation; such jobs' records
count as used when they end, like every job's.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [("jobtower", "0004_event_actor_kind_and_relay_marker")]

    initial = False

    operations = [
        ops.AddField(
            model_name='Job',
            name='records_reserved',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='PlanUsage',
            name='records_reserved',
            field=fields.BigIntField(default=0, db_default=0),
        ),
    ]
