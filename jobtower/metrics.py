"""``/metrics`` in the Prometheus text format, and the request-latency middleware.

Each app has its own registry. The job figures are the live-ops summary as the
platform sees it (every tenant; hidden jobs left out as in the job list), plus the
waiting times of the jobs started in the last hour and the records processed (plan
usage, which only grows). One metric has a tenant label, the queue depth by tenant, and
it names only the ``top_tenants`` deepest queues and puts the rest together under
``(other)`` (which no slug can be): the labels stay as few whatever the customers.

What the worker and dispatcher processes measure (dispatch latency, lost leases, reclaimed
task messages) they keep in Redis (``workers.shared_metrics``); it is read at the scrape, with
the WebSocket subscriptions of every API process (their leases, ``gql.websocket``), so any API
process reports the same platform-wide figures. Only request latency, over HTTP and by GraphQL
operation (``gql.timing``), is the answering process's own.

The figures span every tenant, so the endpoint wants a token of its own
(``JOBTOWER_METRICS_TOKEN``, sent as a bearer token) and is off without one. A scrape
does not grow with the job table's history: the jobs by status are counters the
database keeps as jobs change (``domain.models.JobCount``), and every other figure is
a window of an index (the RUNNING jobs, the failures of the last day, the starts of
the last hour, the PENDING chunks). A snapshot still serves every scrape for
``JOBTOWER_METRICS_CACHE_SECONDS``, so many scrapers cost the database what one does.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.access import Actor, Role
from domain.clock import utcnow
from gql.http import APPLICATION_JSON, error_body
from domain.liveops import (
    FAILED_WINDOW,
    WAIT_WINDOW,
    StatusCount,
    TenantQueue,
    WaitHistogram,
    deepest_queues,
    failed_jobs,
    fold_job_counts,
    oldest_ready_at,
    platform_job_counts,
    queue_depth,
    records_processed,
    stalled_jobs,
    wait_histogram,
)
from gql.websocket import live_operations
from workers.dispatcher import live_worker_slots
from workers.shared_metrics import COUNTERS, HISTOGRAMS, HistogramCounts

log = logging.getLogger(__name__)

WAIT_BUCKETS = (1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
# Any other method a client invents is one label value, not one each.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
# The queue depth of the tenants past the deepest ``top_tenants``: not a slug (no parentheses).
OTHER_TENANTS = "(other)"
PREFIX = "jobtower_"

# Each API process folds the job count changes this often, so they stay few while nobody scrapes.
FOLD_SECONDS = 60.0

# Metrics see every tenant; the tenant id is not used by a platform actor.
PLATFORM = Actor(tenant_id=0, role=Role.PLATFORM, name="metrics")


@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # Unix time
    counts: tuple[StatusCount, ...]
    stalled: int
    failed_last_24h: int
    queue_depth: int
    workers_online: int
    waits: WaitHistogram
    records_processed: int
    deepest_queues: tuple[TenantQueue, ...]
    oldest_ready_seconds: float  # 0 when no chunk waits
    # Read from Redis; None while it is unreachable (a counter left out rather than reset).
    shared: SharedReadings | None


@dataclass(frozen=True)
class SharedReadings:
    counters: dict[str, dict[str, int]]  # by metric name, by label value
    histograms: dict[str, HistogramCounts]
    websocket_operations: int


class JobtowerCollector(Collector):
    """Reports the snapshot that ``refresh`` took at the start of the scrape."""

    def __init__(self, top_tenants: int) -> None:
        self.top_tenants = top_tenants
        self._snapshot: Snapshot | None = None

    async def refresh(self, redis: Redis) -> None:
        now = utcnow()
        workers_online = await _workers_online(redis)
        oldest = await oldest_ready_at(PLATFORM)
        self._snapshot = Snapshot(
            taken_at=now.timestamp(),
            counts=await platform_job_counts(),
            stalled=await stalled_jobs(PLATFORM, workers_online, now),
            failed_last_24h=await failed_jobs(PLATFORM, since=now - FAILED_WINDOW),
            queue_depth=await queue_depth(PLATFORM),
            workers_online=workers_online,
            waits=await wait_histogram(PLATFORM, since=now - WAIT_WINDOW, bounds=WAIT_BUCKETS),
            records_processed=await records_processed(),
            deepest_queues=await deepest_queues(PLATFORM, self.top_tenants),
            oldest_ready_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            shared=await _shared_readings(redis),
        )

    def collect(self) -> Iterable[Metric]:
        if self._snapshot is None:
            return
        snapshot = self._snapshot
        waits = snapshot.waits
        yield GaugeMetricFamily(
            "jobtower_job_figures_taken_at_seconds",
            "When the job figures below were read from the database (Unix time); scrapes in between "
            "share them.",
            value=snapshot.taken_at,
        )
        jobs = GaugeMetricFamily(
            "jobtower_jobs", "Jobs by status (every tenant; hidden jobs left out).", labels=["status"]
        )
        for entry in snapshot.counts:
            jobs.add_metric([entry.status.value], entry.count)
        yield jobs
        yield GaugeMetricFamily(
            "jobtower_jobs_stalled",
            "RUNNING jobs without progress past their type's threshold, or with no worker online.",
            value=snapshot.stalled,
        )
        yield GaugeMetricFamily(
            "jobtower_jobs_failed_last_24h",
            "Jobs that failed in the last 24 hours.",
            value=snapshot.failed_last_24h,
        )
        yield GaugeMetricFamily(
            "jobtower_queue_depth",
            "Chunks queued or ready to run: PENDING chunks of jobs that may run.",
            value=snapshot.queue_depth,
        )
        yield GaugeMetricFamily(
            "jobtower_workers_online",
            "Worker processes with a live heartbeat.",
            value=snapshot.workers_online,
        )
        yield CounterMetricFamily(
            "jobtower_records_processed",
            "Records processed by every tenant, as counted against the plan limits.",
            value=snapshot.records_processed,
        )
        yield HistogramMetricFamily(
            "jobtower_jobs_started_last_hour_wait_seconds",
            "Waiting time (startedAt - createdAt) of the jobs started in the last hour. "
            "A sliding window, not a running total: read it without rate().",
            buckets=[
                *(
                    (floatToGoString(bound), count)
                    for bound, count in zip(waits.bounds, waits.cumulative, strict=True)
                ),
                ("+Inf", waits.count),
            ],
            sum_value=waits.total_seconds,
        )
        by_tenant = GaugeMetricFamily(
            "jobtower_queue_depth_by_tenant",
            f"jobtower_queue_depth of the tenants with the deepest queues, by slug; the other tenants' "
            f"together under tenant=\"{OTHER_TENANTS}\".",
            labels=["tenant"],
        )
        for queue in snapshot.deepest_queues:
            by_tenant.add_metric([queue.tenant], queue.depth)
        by_tenant.add_metric([OTHER_TENANTS], snapshot.queue_depth - sum(q.depth for q in snapshot.deepest_queues))
        yield by_tenant
        yield GaugeMetricFamily(
            "jobtower_queue_oldest_ready_seconds",
            "How long the chunk that has waited the longest for a worker slot has been ready to run "
            "(0 when none waits).",
            value=snapshot.oldest_ready_seconds,
        )
        if snapshot.shared is not None:
            yield from _shared_families(snapshot.shared)


def _shared_families(shared: SharedReadings) -> Iterable[Metric]:
    yield GaugeMetricFamily(
        "jobtower_websocket_subscriptions",
        "Operations running over the GraphQL WebSockets of every API process: subscriptions (and a "
        "query or mutation sent over a socket, while it runs).",
        value=shared.websocket_operations,
    )
    for counter in COUNTERS:
        family = CounterMetricFamily(PREFIX + counter.name, counter.help, labels=[counter.label])
        for value, count in shared.counters[counter.name].items():
            family.add_metric([value], count)
        yield family
    for histogram in HISTOGRAMS:
        counts = shared.histograms[histogram.name]
        yield HistogramMetricFamily(
            PREFIX + histogram.name,
            histogram.help,
            buckets=[
                *(
                    (floatToGoString(bound), count)
                    for bound, count in zip(counts.bounds, counts.cumulative, strict=True)
                ),
                ("+Inf", counts.count),
            ],
            sum_value=counts.total,
        )


async def _shared_readings(redis: Redis) -> SharedReadings | None:
    try:
        return SharedReadings(
            counters={counter.name: await counter.read(redis) for counter in COUNTERS},
            histograms={histogram.name: await histogram.read(redis) for histogram in HISTOGRAMS},
            websocket_operations=await live_operations(redis),
        )
    except RedisError:
        log.warning("Redis unreachable: the figures kept there are left out of this scrape")
        return None


async def _workers_online(redis: Redis) -> int:
    try:
        workers, _ = await live_worker_slots(redis)
    except RedisError:
        # Without Redis no worker can be reached either.
        log.warning("Redis unreachable: reporting no worker online")
        return 0
    return workers


@asynccontextmanager
async def folding_job_counts(every: float = FOLD_SECONDS) -> AsyncIterator[None]:
    """While open, folds the job count changes every ``every`` seconds (a scrape folds too)."""

    async def fold_forever() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await fold_job_counts()
            except Exception:  # a database hiccup: the next fold takes these changes too
                log.exception("folding the job count changes failed")

    task = asyncio.create_task(fold_forever())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


class Metrics:
    """The registry of one app: request latencies, and job figures refreshed at most every
    ``cache_seconds``. Scrapes need ``token``; without one the endpoint is off."""

    def __init__(self, token: str | None = None, cache_seconds: float = 0.0, top_tenants: int = 10) -> None:
        self.token = token or None  # an empty setting is no token
        self.cache_seconds = cache_seconds
        self._refreshed_at: float | None = None
        self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "jobtower_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.operation_duration = Histogram(
            "jobtower_graphql_operation_duration_seconds",
            "Time to execute a GraphQL query or mutation, by operation type and root field (one "
            "observation per root field the operation selects).",
            ["operation", "field"],
            registry=self.registry,
        )
        self.jobs = JobtowerCollector(top_tenants)
        self.registry.register(self.jobs)
        # One scrape at a time: scrapes that arrive while the snapshot is refreshed wait for it.
        self._scraping = asyncio.Lock()

    async def endpoint(self, request: Request) -> Response:
        if self.token is None:
            return _refusal(404, "metrics are off: set JOBTOWER_METRICS_TOKEN to serve them", "NOT_FOUND")
        if not self._authorized(request.headers.get("authorization", "")):
            return _refusal(
                401,
                "metrics need the bearer token of JOBTOWER_METRICS_TOKEN",
                "UNAUTHENTICATED",
                {"WWW-Authenticate": 'Bearer realm="jobtower-metrics"'},
            )
        async with self._scraping:
            if self._refreshed_at is None or time.monotonic() - self._refreshed_at >= self.cache_seconds:
                await self.jobs.refresh(request.app.state.redis)
                self._refreshed_at = time.monotonic()
            body = generate_latest(self.registry)
        # generate_latest writes legacy names, the 0.0.4 format every Prometheus reads.
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    def observe_operation(self, operation: str, fields: frozenset[str], seconds: float) -> None:
        """Where ``gql.timing`` sends the time of each query and mutation."""
        for field in fields:
            self.operation_duration.labels(operation, field).observe(seconds)

    def _authorized(self, authorization: str) -> bool:
        assert self.token is not None
        scheme, _, presented = authorization.partition(" ")
        # Compared in constant time: the token guards every tenant's figures.
        return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), self.token.encode())


def _refusal(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(message, code), status_code=status, media_type=APPLICATION_JSON, headers=headers)


class RequestMetricsMiddleware:
    """Observes each HTTP request's duration under its route template (``/jobs/{id}``,
    never the raw URL), so the label values stay as few as the routes."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = _route_template(scope)
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        status = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def observe_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe_status)
        finally:
            self.metrics.request_duration.labels(method, route, str(status)).observe(
                time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    """The route the router will pick: the first full match, else the first partial one
    (a known path with another method)."""
    partial = None
    for route in scope["app"].routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "path", UNMATCHED_ROUTE)
        if match is Match.PARTIAL and partial is None:
            partial = getattr(route, "path", UNMATCHED_ROUTE)
    return partial or UNMATCHED_ROUTE
