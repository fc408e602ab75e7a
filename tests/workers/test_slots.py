"""A worker's slots bound the chunks it runs at once, however each chunk reached it: by a
free-slot notice, or taken at once by a slot of its own after it enumerated the job."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain.models import Chunk
from domain.statuses import JobStatus
from tests.cluster import Cluster
from tests.conftest import TenantFixture
from tests.workers.support import start, wait_for_status

SLOTS = 2
JOBS = 10


def most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    """The most spans open at one moment; one that ends as another starts is not open with it."""
    moments = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, change in moments:
        running += change
        most = max(most, running)
    return most


@pytest.mark.parametrize("database", ["postgres", "sqlite"], indirect=True)
async def test_a_worker_never_runs_more_chunks_at_once_than_its_slots(cluster: Cluster, acme: TenantFixture):
    cluster.start_worker(worker_concurrency=SLOTS)
    cluster.start_dispatcher()
    # One-chunk jobs started together: each is enumerated while others run, some while a
    # slot is free (it takes its chunk at once), some while none is (a notice comes later).
    jobs = [await start(acme, "test.plain", records=1, stepMs=300) for _ in range(JOBS)]
    for job in jobs:
        finished = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)
        assert finished.status is JobStatus.FINISHED and finished.done == 1

    spans = await Chunk.filter(job_id__in=[job.id for job in jobs]).values_list("started_at", "ended_at")
    assert len(spans) == JOBS
    assert most_at_once(spans) == SLOTS
