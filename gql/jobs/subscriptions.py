"""Subscriptions to jobs: one job's events (``jobUpdated``) and a filtered list's (``jobsChanged``).

The events come gap-free from ``gql.jobs.feeds``; each says what changed, who
or what caused it and when, and carries the job as of its delivery, read the
way a pull refresh reads it (the row and the chunks in flight), so a live
screen and a refresh show the same truth.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Hashable
from functools import partial

import strawberry

from domain.errors import InvalidInput
from domain.models import Job
from gql.context import Context, Info
from gql.jobs.events import JobEventNode
from gql.fanout import live_operation, shared_payload
from gql.jobs.feeds import (
    DeliveredJobs,
    JobEventItem,
    JobsFilter,
    JobState,
    check_resumable,
    job_updates,
    jobs_changed,
    subscribed_job,
)
from gql.jobs.queries import JobFilter
from gql.jobs.types import JobNode
from gql.loaders import Loaders
from gql.scalars import BigInt


@strawberry.type
class JobSubscriptions:
    @strawberry.subscription(
        description="The job's events in seq order, none missed and none twice. With afterSeq, "
        "the events after it are replayed first: resubscribe with the last seq seen to resume."
    )
    async def job_updated(
        self, info: Info, id: strawberry.ID, after_seq: int | None = None
    ) -> AsyncGenerator[JobEventNode, None]:
        job = await subscribed_job(info.context.viewer, id)
        if after_seq is not None and not 0 <= after_seq <= job.seq:
            raise InvalidInput("afterSeq", f"must be between 0 and the job's last seq ({job.seq})")
        context, live = info.context, live_operation()
        hub = context.streams
        jobs = DeliveredJobs(hub)

        def send_now(items: list[JobEventItem]) -> bool:
            """Live items whose jobs were read ahead, sent at once if their answers are shared ones."""
            states = jobs.states_read(items)
            if states is None or live is None:
                return False
            nodes = _nodes(context, items, states)
            return len(nodes) == len(items) and live.send_now(nodes)

        async for items in job_updates(hub, job, after_seq, send_now if live else None):
            nodes = await _delivered(info, jobs, items)
            for node in nodes:
                yield node
            if len(nodes) < len(items):
                return  # the job was pruned: nothing more will happen to it

    @strawberry.subscription(
        description="Events of the jobs the filter shows, as they happen, in tenantSeq order. A job "
        "entering or leaving filter.status is delivered both times, and so is the event that hides a job. "
        "With afterSeq, the tenant's events after that tenantSeq are replayed first, none missed and "
        "none twice: resubscribe with the last tenantSeq seen to resume. A tenantSeq counts the events "
        "of one tenant, so a PLATFORM viewer resuming names it in filter.tenantId."
    )
    async def jobs_changed(
        self, info: Info, filter: JobFilter | None = None, after_seq: BigInt | None = None
    ) -> AsyncGenerator[JobEventNode, None]:
        where = JobsFilter(info.context.viewer, (filter or JobFilter()).to_domain())
        where.check()
        await check_resumable(where, after_seq)
        jobs = DeliveredJobs(info.context.streams)
        async for items in jobs_changed(info.context.streams, where, after_seq):
            for node in await _delivered(info, jobs, items):
                yield node


async def _delivered(info: Info, jobs: DeliveredJobs, items: list[JobEventItem]) -> list[JobEventNode]:
    """The events of ``items`` whose job still exists, each with the job as of now."""
    return _nodes(info.context, items, await jobs.states(items))


def _nodes(context: Context, items: list[JobEventItem], states: dict[int, JobState]) -> list[JobEventNode]:
    """The events of ``items`` whose job still exists in ``states``; the loaders of the next
    answer start from those jobs."""
    found = {job_id: state for job_id, state in states.items() if state.job is not None}

    def prime(loaders: Loaders) -> None:
        for job_id, state in found.items():
            loaders.job.prime(job_id, state.job)

    context.refresh(prime)
    nodes = []
    for item in items:
        state = found.get(item.job_id)
        if state is None:
            continue  # pruned meanwhile: nothing left to show
        share_key = None
        if item.entry_id is not None and state.as_of is not None:
            # With seq and tenantSeq: a subscriber's sequence may have rewritten them (progress
            # carries the last one it delivered).
            share_key = (item.job_id, item.seq, item.tenant_seq, item.kind, item.entry_id, state.as_of)
        nodes.append(shared_payload(share_key, partial(_event_node, item, state.job, share_key)))
    return nodes


def _event_node(item: JobEventItem, job: Job, share_key: Hashable | None) -> JobEventNode:
    return JobEventNode.of(item, JobNode.of(job), share_key)
