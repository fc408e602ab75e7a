"""The root jobs a tenant had admitted in the current minute, for the platform's per-minute ceiling."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0011_job_list_index")]

    initial = False

    operations = [
        ops.AddField(model_name="PlanUsage", name="minute_start", field=fields.DatetimeField(null=True)),
        ops.AddField(model_name="PlanUsage", name="minute_jobs", field=fields.IntField(default=0, db_default=0)),
    ]
