"""The Redis client every process shares: a burst of commands beyond its pool waits its turn."""

from __future__ import annotations

import asyncio

from workers.redis_client import POOL_CONNECTIONS, redis_client


async def test_more_commands_at_once_than_the_pool_holds_wait_for_a_connection(redis_url: str):
    """As an API process under load does: hundreds of requests and WebSockets each needing Redis
    at the same moment. Each command here holds its connection a while (a blocking read)."""
    client = redis_client(redis_url)
    try:
        burst = POOL_CONNECTIONS + 50
        results = await asyncio.gather(
            *(client.blpop([f"jobtower:test:nothing-here:{number}"], timeout=0.2) for number in range(burst))
        )
    finally:
        await client.aclose()

    assert results == [None] * burst
