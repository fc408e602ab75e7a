"""Per-principal and per-tenant limits in front of ``/graphql``: requests in flight at once, and
requests per minute.

One API process is one event loop: a client that sends many heavy queries at
once, or one after another without pause, makes every other tenant's requests
wait behind them. Each principal (one API token) may have at most
``max_concurrent`` requests being answered and send ``per_minute`` requests a
minute, and all the tokens of one tenant together ``tenant_max_concurrent`` and
``tenant_per_minute``, so that making many tokens does not multiply a tenant's
share; past any of them the request gets 429, ``Retry-After`` and a GraphQL error
whose ``jobtowerCode`` is ``RATE_LIMITED`` (``scope`` says whose limit), before
anything runs. A token's tenant is read once per process and token
(``TokenTenants``); a token that never existed has no tenant, and only its own
limits, before authentication refuses it.

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
from collections import OrderedDict
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.access import hash_token
from domain.tenants import tenant_of_token
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

# Tokens whose tenant one process remembers; beyond that the least recently used is read again.
KNOWN_TOKENS = 10_000

# KEYS: pairs of (in flight, requests this minute), the token's then its tenant's. ARGV: now
# (ms), request id, window (ms), in-flight expiry (ms), then each pair's concurrency and rate
# limits. Answers {0, 0, 0} when admitted; {1, pair, ms until its window ends} past a rate,
# {2, pair, 0} past a concurrency. A refused request counts in the rates it reached: retrying at
# once does not pay; one past its token's rate does not spend its tenant's.
_ADMIT = """
local now, pairs = tonumber(ARGV[1]), #KEYS / 2
for i = 1, pairs do
  redis.call('ZREMRANGEBYSCORE', KEYS[2 * i - 1], '-inf', now)
  local sent = redis.call('INCR', KEYS[2 * i])
  if sent == 1 then redis.call('PEXPIRE', KEYS[2 * i], ARGV[3]) end
  if sent > tonumber(ARGV[4 + 2 * i]) then return {1, i, redis.call('PTTL', KEYS[2 * i])} end
end
for i = 1, pairs do
  if redis.call('ZCARD', KEYS[2 * i - 1]) >= tonumber(ARGV[3 + 2 * i]) then return {2, i, 0} end
end
for i = 1, pairs do
  redis.call('ZADD', KEYS[2 * i - 1], now + ARGV[4], ARGV[2])
  redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[4])
end
return {0, 0, 0}
"""

_ADMITTED, _PAST_RATE = 0, 1
_TOKEN, _TENANT = 1, 2


class TokenTenants:
    """The tenant of each token, read from the database once and kept (a token never changes
    tenant), the ``KNOWN_TOKENS`` most recently used."""

    def __init__(self, size: int = KNOWN_TOKENS) -> None:
        self.size = size
        self._known: OrderedDict[str, int | None] = OrderedDict()

    async def tenant(self, token: str) -> int | None:
        principal = hash_token(token)
        if principal in self._known:
            self._known.move_to_end(principal)
            return self._known[principal]
        try:
            tenant_id = await tenant_of_token(token)
        except Exception:  # the database is down: authentication refuses the request anyway
            log.warning("the tenant of a token could not be read: its tenant's limits not applied")
            return None
        self._known[principal] = tenant_id
        if len(self._known) > self.size:
            self._known.popitem(last=False)
        return tenant_id


@dataclass(frozen=True)
class RequestLimits:
    max_concurrent: int
    per_minute: int
    tenant_max_concurrent: int
    tenant_per_minute: int


class PrincipalThrottle:
    def __init__(self, app: ASGIApp, redis: Redis, limits: RequestLimits) -> None:
        self.app = app
        self.redis = redis
        self.limits = limits
        self.tenants = TokenTenants()
        self._admit = redis.register_script(_ADMIT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = bearer_token(Headers(scope=scope).get("authorization")) if scope["type"] == "http" else None
        if token is None:  # nothing to count against: authentication refuses it
            await self.app(scope, receive, send)
            return
        principal = hash_token(token)
        counts = [keys.requests_in_flight(principal), keys.requests_this_minute(principal)]
        limits = [self.limits.max_concurrent, self.limits.per_minute]
        tenant_id = await self.tenants.tenant(token)
        if tenant_id is not None:
            counts += [keys.tenant_requests_in_flight(tenant_id), keys.tenant_requests_this_minute(tenant_id)]
            limits += [self.limits.tenant_max_concurrent, self.limits.tenant_per_minute]
        request_id = uuid.uuid4().hex
        try:
            verdict, whose, wait_ms = await self._admit(
                keys=counts,
                args=[int(time.time() * 1000), request_id, WINDOW_SECONDS * 1000, IN_FLIGHT_SECONDS * 1000, *limits],
            )
        except RedisError as error:
            log.warning("request limits not applied, Redis refused: %s", error)
            await self.app(scope, receive, send)
            return
        if verdict != _ADMITTED:
            await self._refuse(scope, send, verdict, whose, wait_ms)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            try:
                await self.redis.zrem(counts[0], request_id)
                if tenant_id is not None:
                    await self.redis.zrem(counts[2], request_id)
            except RedisError:
                pass  # they expire on their own

    async def _refuse(self, scope: Scope, send: Send, verdict: int, whose: int, wait_ms: int) -> None:
        by = "with this token" if whose == _TOKEN else "from this tenant's tokens together"
        if verdict == _PAST_RATE:
            per_minute = self.limits.per_minute if whose == _TOKEN else self.limits.tenant_per_minute
            retry_after = max(1, math.ceil(wait_ms / 1000))
            message = f"more than {per_minute} requests a minute {by}; retry in {retry_after} s"
            limit = {"limit": per_minute, "windowSeconds": WINDOW_SECONDS}
        else:
            at_once = self.limits.max_concurrent if whose == _TOKEN else self.limits.tenant_max_concurrent
            retry_after = CONCURRENCY_RETRY_SECONDS
            message = f"more than {at_once} requests at once {by}; wait for an answer first"
            limit = {"limit": at_once}
        body = error_body(
            message,
            RATE_LIMITED,
            **{OWN_CODE: RATE_LIMITED, "scope": "TOKEN" if whose == _TOKEN else "TENANT", "retryAfterSeconds": retry_after, **limit},
        )
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
