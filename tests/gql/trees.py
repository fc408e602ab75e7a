"""Job trees written straight to the database, fast: jobs, chunks, records with journeys.

Tests of what the API reads need many rows in known states; running workers to
make them would be slow and beside the point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from domain import db
from domain.clock import utcnow
from domain.journey import entry
from domain.models import Chunk, Job, Record
from domain.partitions import shared_partition
from domain.statuses import ChunkStatus, JobStatus, RecordStatus, StepStatus

STEPS = ["prepare", "send"]


@dataclass(frozen=True)
class Tree:
    job_ids: list[int]
    records_per_chunk: int
    chunks_per_job: int


async def build_tree(
    tenant_id: int,
    *,
    jobs: int,
    chunks: int,
    records: int,
    run_by_id: int | None = None,
    name: str = "tree",
) -> Tree:
    """``jobs`` RUNNING jobs of ``chunks`` chunks of ``records`` finished records each; the
    first job is the parent of the others, so children and childrenProgress have work too."""
    now = utcnow()
    started = now - timedelta(minutes=5)
    total = chunks * records
    partition = await shared_partition(now)
    await Job.bulk_create(
        [
            Job(
                tenant_id=tenant_id,
                partition_id=partition,
                type="test.plain",
                name=f"{name} {number:03d}",
                status=JobStatus.RUNNING,
                params={"records": total},
                step_names=STEPS,
                chunk_size=records,
                run_by_id=run_by_id,
                enumerated=True,
                total=total,
                done=total,
                succeeded=total - 1,
                failed=1,
                seq=1,
                started_at=started,
            )
            for number in range(jobs)
        ]
    )
    job_ids = list(
        await Job.filter(tenant_id=tenant_id, name__startswith=f"{name} ").order_by("id").values_list("id", flat=True)
    )
    root = job_ids[0]
    await db.fetch("UPDATE job SET root_id = ? WHERE id IN (" + ", ".join("?" for _ in job_ids) + ")", [root, *job_ids])
    await Job.filter(id__in=job_ids[1:]).update(parent_id=root)
    await Chunk.bulk_create(
        [
            Chunk(
                job_id=job_id,
                index=index,
                status=ChunkStatus.COMPLETED,
                range_start=index * records,
                range_end=(index + 1) * records,
                cursor=(index + 1) * records,
                attempts=1,
                started_at=started,
                ended_at=now,
                done=records,
                succeeded=records,
            )
            for job_id in job_ids
            for index in range(chunks)
        ]
    )
    chunk_ids = {
        (job_id, index): chunk_id
        for chunk_id, job_id, index in await Chunk.filter(job_id__in=job_ids).values_list("id", "job_id", "index")
    }
    journey = [entry(0, StepStatus.SUCCEEDED, 0, 1_500), entry(1, StepStatus.SUCCEEDED, 2_000, 40_000)]
    await Record.bulk_create(
        [
            Record(
                job_id=job_id,
                partition_id=partition,
                chunk_id=chunk_ids[(job_id, index)],
                position=index * records + offset,
                key=f"contact-{index * records + offset}",
                status=RecordStatus.SUCCEEDED,
                attempts=1,
                started_at=started,
                ended_at=now,
                journey=journey,
            )
            for job_id in job_ids
            for index in range(chunks)
            for offset in range(records)
        ],
        batch_size=5_000,
    )
    return Tree(job_ids=job_ids, records_per_chunk=records, chunks_per_job=chunks)
