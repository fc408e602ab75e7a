"""The statistics rolled up per settled bucket and scope, the generation of each day that tells
which are still true, and the indexes that read the buckets not yet rolled up (domain.rollup)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('jobtower', '0013_job_counts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StatisticsGeneration',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.BigIntField(unique=True)),
                ('generation', fields.BigIntField(default=0)),
            ],
            options={'table': 'statistics_generation', 'app': 'jobtower', 'pk_attr': 'id', 'table_description': 'How many times the statistics of a UTC day were changed after the fact (domain.rollup).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StatisticsRollup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.BigIntField()),
                ('with_system', fields.BooleanField()),
                ('type', fields.CharField(max_length=100)),
                ('size', fields.CharField(max_length=4)),
                ('start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('day', fields.BigIntField()),
                ('generation', fields.BigIntField()),
                ('created', fields.BigIntField()),
                ('started', fields.BigIntField()),
                ('finished', fields.BigIntField()),
                ('failed', fields.BigIntField()),
                ('wait_avg', fields.FloatField(null=True)),
                ('wait_min', fields.FloatField(null=True)),
                ('wait_max', fields.FloatField(null=True)),
                ('wait_p95', fields.FloatField(null=True)),
                ('duration_avg', fields.FloatField(null=True)),
                ('duration_p95', fields.FloatField(null=True)),
                ('records_processed', fields.BigIntField()),
            ],
            options={'table': 'statistics_rollup', 'app': 'jobtower', 'unique_together': (('tenant_id', 'with_system', 'type', 'size', 'start'),), 'pk_attr': 'id', 'table_description': "One settled bucket of ``jobStatistics`` for one scope, as computed at a day's generation."},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Job',
            index=Index(fields=['created_at']),
        ),
        ops.AddIndex(
            model_name='Job',
            index=Index(fields=['ended_at']),
        ),
    ]
