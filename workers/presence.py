"""Whether this host runs a live worker or dispatcher: the health check of their containers.

Workers and dispatchers keep a presence key in Redis that expires unless they
refresh it, so a hung process reads as dead as surely as a stopped one.
"""

from __future__ import annotations

import socket

from workers import keys
from workers.redis_client import redis_client

PRESENCE_KEYS = {"worker": keys.worker, "dispatcher": keys.dispatcher}


async def alive_on_this_host(redis_url: str, role: str) -> bool:
    host = socket.gethostname()
    redis = redis_client(redis_url)
    try:
        names = [name async for name in redis.scan_iter(match=PRESENCE_KEYS[role](f"{host}-*"), count=1000)]
    finally:
        await redis.aclose()
    # An id is host-pid-random; "web-*" would also match the ids of a host named "web-1".
    return any(name.decode().rsplit(":", 1)[1].rsplit("-", 2)[0] == host for name in names)
