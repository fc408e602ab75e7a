"""A tenant's Sync Size per job type: the chunk size its jobs of the type run with when
startJob names none. A tenant without a row for a type runs the type's default."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [("jobtower", "0008_schedule_management")]

    initial = False

    operations = [
        ops.CreateModel(
            name='SyncSize',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('jobtower.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='sync_sizes', on_delete=OnDelete.CASCADE)),
                ('job_type', fields.CharField(max_length=100)),
                ('chunk_size', fields.IntField()),
            ],
            options={'table': 'sync_size', 'app': 'jobtower', 'unique_together': (('tenant', 'job_type'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
