"""Redis clients of every Jobtower process: a command that meets a dropped connection (Redis
restarted, a pooled connection gone stale) is retried on a fresh one with backoff."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

# Three more tries over about a second: a restart's stale connections heal unseen, while an
# outage still fails the command soon enough for the caller's own backoff to take over.
RETRYING: dict[str, Any] = {
    "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
    "retry_on_error": [ConnectionError, TimeoutError],
}


# Connections one client opens at most (redis-py's default). A command finding every one busy
# (a burst of requests and WebSockets on an API process) waits this long for one, where
# redis-py's own pool would fail it at once.
POOL_CONNECTIONS = 100
POOL_WAIT_SECONDS = 5.0


def redis_client(url: str) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_SECONDS, **RETRYING
    )
    return Redis.from_pool(pool)  # closing the client closes its pool
