"""Bulk operations over jobs: the operation, and its targets (the jobs chosen when it was
started) with what the verb answered for each."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from domain.statuses import BulkAction, BulkOperationStatus, BulkTargetStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('jobtower', '0006_chunk_claim_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BulkOperation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('jobtower.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='bulk_operations', on_delete=OnDelete.CASCADE)),
                ('action', fields.CharEnumField(description='STOP: STOP\nRESUME: RESUME\nCANCEL: CANCEL\nRETRY_FAILED_RECORDS: RETRY_FAILED_RECORDS\nSET_LOW_PRIORITY: SET_LOW_PRIORITY\nREMOVE_LOW_PRIORITY: REMOVE_LOW_PRIORITY\nHIDE: HIDE\nUNHIDE: UNHIDE', enum_type=BulkAction, max_length=24)),
                ('status', fields.CharEnumField(default=BulkOperationStatus.PENDING, description='PENDING: PENDING\nRUNNING: RUNNING\nCOMPLETED: COMPLETED\nCANCELED: CANCELED', enum_type=BulkOperationStatus, max_length=12)),
                ('created_by', fields.ForeignKeyField('jobtower.Principal', source_field='created_by_id', db_constraint=True, to_field='id', related_name='bulk_operations', on_delete=OnDelete.CASCADE)),
                ('total', fields.BigIntField()),
                ('done', fields.BigIntField(default=0)),
                ('succeeded', fields.BigIntField(default=0)),
                ('failed', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=100)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'bulk_operation', 'app': 'jobtower', 'indexes': [Index(fields=['tenant_id', 'id']), Index(fields=['status', 'lease_expires_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BulkTarget',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('operation', fields.ForeignKeyField('jobtower.BulkOperation', source_field='operation_id', db_constraint=True, to_field='id', related_name='targets', on_delete=OnDelete.CASCADE)),
                ('job_id', fields.BigIntField()),
                ('status', fields.CharEnumField(default=BulkTargetStatus.PENDING, description='PENDING: PENDING\nSUCCEEDED: SUCCEEDED\nFAILED: FAILED', enum_type=BulkTargetStatus, max_length=12)),
                ('error_code', fields.CharField(null=True, max_length=32)),
                ('error_message', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'bulk_target', 'app': 'jobtower', 'unique_together': (('operation', 'job_id'),), 'indexes': [Index(fields=['operation_id', 'status', 'job_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
