"""An index for a free slot's claim (``domain.scheduling``): whether a job has a ready
chunk, and which one is its first, without reading the chunks it has already run."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("jobtower", "0005_plan_reservations")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Chunk",
            index=Index(fields=["job_id", "status", "index"]),
        ),
    ]
