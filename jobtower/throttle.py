"""Per-principal limits in front of ``/graphql``: requests in flight at once, and requests per minute.

One API process is one event loop: a client that sends many heavy queries at
once, or one after another without pause, makes every other tenant's requests
wait behind them. Each principal (one API token) may have at most
``max_concurrent`` requests being answered and send ``per_minute`` requests a
minute; past either it gets 429, ``Retry-After`` and a GraphQL error whose
``jobtowerCode`` is ``RATE_LIMITED``, before anything runs.

Both counts live in Redis, so they hold across every API process of a
deployment. A request in flight is a member of a sorted set scored by when it
stops counting: a process that dies mid-request frees its places within
``IN_FLIGHT_SECONDS``. Should Redis be unreachable, requests pass unthrottled
(and the log says so): the limits protect the API, they must not take it down.
"""

from __future__ import annotations

import logging
import math
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.access import hash_token
from gql.errors import OWN_CODE, RATE_LIMITED
from gql.http import error_body, response_media_type
from gql.view import bearer_token
from workers import keys

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# A request still counted after this long belongs to a process that died.
IN_FLIGHT_SECONDS = 120
# What a client refused for concurrency should wait: about one request's time.
CONCURRENCY_RETRY_SECONDS = 1

# KEYS: in flight, requests this minute. ARGV: now (ms), request id, concurrency limit,
# rate limit, window (ms), in-flight expiry (ms).
# Answers {0, 0} when admitted, {1, ms until the window ends} past the rate, {2, 0} past the
# concurrency. A refused request counts in the rate too: retrying at once does not pay.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local sent = redis.call('INCR', KEYS[2])
if sent == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
if sent > tonumber(ARGV[4]) then return {1, redis.call('PTTL', KEYS[2])} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return {2, 0} end
redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[6], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {0, 0}
"""

_ADMITTED, _PAST_RATE = 0, 1


class PrincipalThrottle:
    def __init__(self, app: ASGIApp, redis: Redis, max_concurrent: int, per_minute: int) -> None:
        self.app = app
        self.redis = redis
        self.max_concurrent = max_concurrent
        self.per_minute = per_minute
        self._admit = redis.register_script(_ADMIT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = bearer_token(Headers(scope=scope).get("authorization")) if scope["type"] == "http" else None
        if token is None:  # nothing to count against: authentication refuses it
            await self.app(scope, receive, send)
            return
        principal = hash_token(token)
        in_flight = keys.requests_in_flight(principal)
        request_id = uuid.uuid4().hex
        try:
            verdict, wait_ms = await self._admit(
                keys=[in_flight, keys.requests_this_minute(principal)],
                args=[
                    int(time.time() * 1000),
                    request_id,
                    self.max_concurrent,
                    self.per_minute,
                    WINDOW_SECONDS * 1000,
                    IN_FLIGHT_SECONDS * 1000,
                ],
            )
        except RedisError as error:
            log.warning("request limits not applied, Redis refused: %s", error)
            await self.app(scope, receive, send)
            return
        if verdict != _ADMITTED:
            await self._refuse(scope, send, verdict, wait_ms)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            try:
                await self.redis.zrem(in_flight, request_id)
            except RedisError:
                pass  # it expires on its own

    async def _refuse(self, scope: Scope, send: Send, verdict: int, wait_ms: int) -> None:
        if verdict == _PAST_RATE:
            retry_after = max(1, math.ceil(wait_ms / 1000))
            message = f"more than {self.per_minute} requests a minute with this token; retry in {retry_after} s"
            limit = {"limit": self.per_minute, "windowSeconds": WINDOW_SECONDS}
        else:
            retry_after = CONCURRENCY_RETRY_SECONDS
            message = f"more than {self.max_concurrent} requests at once with this token; wait for an answer first"
            limit = {"limit": self.max_concurrent}
        body = error_body(message, RATE_LIMITED, **{OWN_CODE: RATE_LIMITED, "retryAfterSeconds": retry_after, **limit})
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", response_media_type(Headers(scope=scope).get("accept")).encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
