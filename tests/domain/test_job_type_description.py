"""What a job type says about itself: its label, why it cannot be stopped or restarted, its
waiting and batch steps and the chunk sizes a tenant may choose."""

from __future__ import annotations

import pytest

from domain.registry import JobType, Step
from tests.job_types import numbered, passes


def job_type(**described) -> JobType:
    return JobType(name="acme.contact_sync", enumerate=numbered, steps=(Step("work", passes),), **described)


def test_a_type_without_a_label_is_labelled_from_its_name():
    assert job_type().label == "Acme contact sync"
    assert job_type(label="CRM sync").label == "CRM sync"


def test_the_allowed_chunk_sizes_default_to_multiples_of_the_default_chunk_size():
    assert job_type().allowed_chunk_sizes == (10, 20, 50, 100, 200, 500, 1000)
    assert job_type(default_chunk_size=1).allowed_chunk_sizes == (1, 2, 5, 10)
    assert job_type(default_chunk_size=50_000).allowed_chunk_sizes == (5000, 10_000, 25_000, 50_000, 100_000)
    assert job_type(default_chunk_size=20, allowed_chunk_sizes=(40, 20, 20)).allowed_chunk_sizes == (20, 40)


@pytest.mark.parametrize("sizes", [(10, 50), (0, 100), (100, 100_001)])
def test_allowed_chunk_sizes_must_hold_the_default_and_fit_a_chunk(sizes):
    with pytest.raises(ValueError):
        job_type(allowed_chunk_sizes=sizes)


def test_a_type_that_cannot_be_stopped_or_restarted_says_why():
    assert job_type().not_stoppable_reason == job_type().not_restartable_reason == ""
    fixed = job_type(stoppable=False, not_stoppable_reason="The books must balance.")
    assert fixed.not_stoppable_reason == "The books must balance."
    assert job_type(stoppable=False).not_stoppable_reason.endswith(".")
    assert "system job" in job_type(stoppable=False, system=True).not_stoppable_reason
    assert job_type(restartable=False).not_restartable_reason.endswith(".")
    with pytest.raises(ValueError):
        job_type(not_stoppable_reason="a stoppable type has no reason not to stop")
    with pytest.raises(ValueError):
        job_type(not_restartable_reason="a restartable type has no reason not to restart")


def test_a_step_with_an_answer_schema_may_wait():
    assert not Step("work", passes).may_wait
    assert Step("approve", passes, may_wait=True).may_wait
    assert Step("approve", passes, answer_schema={"type": "object"}).may_wait


async def writes(contexts):
    return None


def test_a_batch_step_takes_a_hundred_records_at_once_unless_it_says_how_many():
    assert Step("write", run_batch=writes).batch_size == 100
    assert Step("write", run_batch=writes, batch_size=500).batch_size == 500
    assert Step("work", passes).batch_size is None


@pytest.mark.parametrize(
    "step",
    [
        dict(),
        dict(run=passes, run_batch=writes),
        dict(run=passes, batch_size=10),
        dict(run_batch=writes, batch_size=0),
    ],
)
def test_a_step_runs_either_per_record_or_in_batches_of_at_least_one(step):
    with pytest.raises(ValueError):
        Step("work", **step)
