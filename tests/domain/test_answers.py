"""Answers to waiting records: the answer a waiting step declares it expects, and who gave it.

The records are laid out as a worker leaves them when a step asks (``WaitForAnswer``):
WAITING, with the step's entry last in the journey.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain import jobs
from domain.clock import utcnow
from domain.errors import InvalidInput
from domain.journey import decode, entry
from domain.models import Job, Record
from domain.statuses import ChunkStatus, JobStatus, RecordStatus, StepStatus
from jobtower.job_types.campaign_run import CAMPAIGN_RUN
from tests.domain.scenarios import add_chunk, put_in, snapshot, start

APPROVE = 2  # campaign_run: segment, render, approve, send


async def waiting_in(acme, type: str, step: int) -> tuple[Job, Record]:
    job = await put_in(await start(acme.actor(), type), JobStatus.WAITING)
    chunk = await add_chunk(job, 0, ChunkStatus.RUNNING, [RecordStatus.WAITING])
    journey = [entry(index, StepStatus.SUCCEEDED, index * 1_000, 900) for index in range(step)]
    journey.append(entry(step, StepStatus.WAITING, step * 1_000, 40))
    await Record.filter(chunk_id=chunk.id).update(started_at=utcnow(), journey=journey)
    return job, await Record.get(chunk_id=chunk.id)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"foo": 1}, "payload.approved"),
        (None, "payload"),
        ("yes", "payload"),
        ({"approved": "yes", "by": "maria"}, "payload.approved"),
        ({"approved": True}, "payload.by"),
        ({"approved": True, "by": ""}, "payload.by"),
        ({"approved": True, "by": "maria", "note": "ok"}, "payload"),
    ],
    ids=["unknown-field", "nothing", "a-string", "not-a-boolean", "nobody", "blank-name", "extra-field"],
)
async def test_an_answer_the_waiting_step_does_not_expect_is_refused_and_changes_nothing(
    acme, payload: Any, field: str
):
    job, record = await waiting_in(acme, CAMPAIGN_RUN.name, APPROVE)
    before = await snapshot(job.id)

    with pytest.raises(InvalidInput) as refused:
        await jobs.complete_wait(acme.actor(), record.id, payload)

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", field)
    assert await snapshot(job.id) == before
    unchanged = await Record.get(id=record.id)
    assert (unchanged.status, unchanged.wait_payload, unchanged.journey) == (
        RecordStatus.WAITING, None, record.journey
    )


@pytest.mark.parametrize("approved", [True, False])
async def test_the_answer_campaign_run_expects_continues_the_record(acme, approved: bool):
    job, record = await waiting_in(acme, CAMPAIGN_RUN.name, APPROVE)

    answered = await jobs.complete_wait(acme.actor(), record.id, {"approved": approved, "by": "maria"})

    assert (answered.status, answered.wait_payload) == (RecordStatus.PENDING, {"approved": approved, "by": "maria"})
    assert (await Job.get(id=job.id)).status is JobStatus.RUNNING


async def test_a_step_that_declares_no_answer_takes_any(acme):
    _, record = await waiting_in(acme, "test.approval", 1)

    answered = await jobs.complete_wait(acme.actor(), record.id, {"anything": ["at", "all"]})

    assert answered.status is RecordStatus.PENDING


async def test_the_journey_says_who_answered_the_wait(acme):
    job, record = await waiting_in(acme, CAMPAIGN_RUN.name, APPROVE)
    operator = acme.actor(name="maria of support")

    answered = await jobs.complete_wait(operator, record.id, {"approved": True, "by": "maria"})

    *_, approve = decode(answered.journey, job.step_names, answered.started_at)
    assert (approve.name, approve.status, approve.answered_by) == ("approve", StepStatus.WAITING, "maria of support")


async def test_a_wait_that_timed_out_was_answered_by_the_system(acme):
    job, record = await waiting_in(acme, "test.approval", 1)
    await Record.filter(id=record.id).update(wait_deadline=utcnow())

    await jobs.expire_waits()

    expired = await Record.get(id=record.id)
    *_, approve = decode(expired.journey, job.step_names, expired.started_at)
    assert (expired.status, approve.answered_by) == (RecordStatus.PENDING, "system")
