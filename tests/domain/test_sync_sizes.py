"""A tenant's Sync Size, as admission reads it."""

from __future__ import annotations

from domain.models import SyncSize
from domain.sync_sizes import sync_size
from tests.job_types import PLAIN


async def test_a_choice_the_type_no_longer_allows_gives_way_to_the_default(acme):
    # As if the type's developer had since dropped 30 from its allowed sizes.
    await SyncSize.create(tenant_id=acme.tenant.id, job_type=PLAIN.name, chunk_size=30)

    assert 30 not in PLAIN.allowed_chunk_sizes
    assert await sync_size(acme.tenant.id, PLAIN) == PLAIN.default_chunk_size
