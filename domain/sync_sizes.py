"""Sync Size: the chunk size a tenant's jobs of a type run with when ``startJob`` names none.

A tenant chooses it per job type among the type's ``allowed_chunk_sizes``
(``domain.tenants.set_sync_size``); without a choice the type's default applies.
A choice the type no longer allows (its developer changed the list) falls back to
the default too, so a job never starts with a size its type refuses.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.models import SyncSize
from domain.registry import JobType


async def sync_sizes(tenant_id: int, job_types: Sequence[JobType]) -> dict[str, int]:
    """The chunk size of each of ``job_types`` for the tenant, by type name: one query."""
    chosen = dict(
        await SyncSize.filter(tenant_id=tenant_id, job_type__in=[t.name for t in job_types]).values_list(
            "job_type", "chunk_size"
        )
    )
    return {job_type.name: _in_force(job_type, chosen.get(job_type.name)) for job_type in job_types}


async def sync_size(tenant_id: int, job_type: JobType) -> int:
    return (await sync_sizes(tenant_id, [job_type]))[job_type.name]


def _in_force(job_type: JobType, chosen: int | None) -> int:
    if chosen is not None and chosen in job_type.allowed_chunk_sizes:
        return chosen
    return job_type.default_chunk_size
