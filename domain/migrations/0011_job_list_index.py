"""An index for the job list as operators see it by default, without system or hidden jobs:
its page and its ``totalCount`` are read from the index alone, not from the wide job rows."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0010_tenant_event_sequence")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Job",
            index=Index(fields=["tenant_id", "system", "hidden", "created_at", "id"]),
        ),
    ]
