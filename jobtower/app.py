"""The HTTP application: the GraphQL API, health, readiness and metrics endpoints, the web console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from domain import db
from domain.models import Tenant
from domain.registry import registry
from domain.usage import configure_ceilings
from workers.streams import close_hub
from gql.frames import FrameWriters
from gql.view import GraphQLView
from gql.websocket import WebSocketLimits
from jobtower.collector import tune_garbage_collector
from jobtower.console.routes import console_routes
from jobtower.graphiql import GraphiQLPage
from jobtower.headers import DefaultHeaders
from jobtower.request_ids import RequestIds
from jobtower.limits import BodySizeLimit, HeaderSizeLimit
from jobtower.metrics import Metrics, RequestMetricsMiddleware, folding_job_counts
from jobtower.throttle import PrincipalThrottle, RequestLimits
from jobtower.settings import Settings, settings as configured
from jobtower.tracing import tracing
from workers.dispatcher import dispatching
from workers.redis_client import redis_client
from workers.wakeups import announcing


def create_app(settings: Settings, redis_url: str, *, dispatch: bool = False) -> Starlette:
    """The app; with ``dispatch`` (``jobtower serve``) a dispatcher runs while it is up."""
    configure_ceilings(settings.max_records_per_job, settings.max_jobs_per_minute)
    redis = redis_client(redis_url)
    metrics = Metrics(
        settings.metrics_token.get_secret_value() if settings.metrics_token else None,
        settings.metrics_cache_seconds,
        settings.metrics_top_tenants,
    )
    graphql = GraphQLView(
        redis,
        allowed_origins=tuple(settings.allowed_origins),
        fast_execution=settings.graphql_fast_execution,
        websocket_limits=WebSocketLimits(
            # A WebSocket message is held to the size of an HTTP request body.
            max_message_bytes=settings.max_request_bytes,
            max_connections=settings.ws_max_connections,
            max_subscriptions=settings.ws_max_subscriptions,
            recheck_seconds=settings.ws_recheck_seconds,
        ),
        max_response_bytes=settings.max_response_bytes,
        observe_operation=metrics.observe_operation,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        registry.load(settings.job_types)
        app.state.redis = redis
        async with (
            tracing(settings, "api"),
            db.database(settings.resolved_database_url),
            folding_job_counts(),
            announcing(redis, settings.dispatch_wakeups),
            dispatching(settings, redis_url) if dispatch else nullcontext(),
        ):
            tune_garbage_collector()
            yield
            await close_hub(redis)
        await redis.aclose()

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        checks = {}
        try:
            await Tenant.all().limit(1).values_list("id", flat=True)
            checks["database"] = "ok"
        except Exception:  # reported, not raised: readiness is the answer
            checks["database"] = "unreachable"
        try:
            await request.app.state.redis.ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unreachable"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route(
                "/graphql",
                GraphiQLPage(
                    PrincipalThrottle(
                        BodySizeLimit(graphql, settings.max_request_bytes),
                        redis,
                        RequestLimits(
                            max_concurrent=settings.max_concurrent_requests,
                            per_minute=settings.max_requests_per_minute,
                            tenant_max_concurrent=settings.max_tenant_concurrent_requests,
                            tenant_per_minute=settings.max_tenant_requests_per_minute,
                        ),
                    )
                ),
                methods=["GET", "POST"],
            ),
            WebSocketRoute("/graphql", graphql),
            Route("/metrics", metrics.endpoint),
            *console_routes(),
        ],
        middleware=[
            # Outermost: it hands WebSocket scopes the writer of uvicorn's connection.
            Middleware(FrameWriters),
            Middleware(RequestIds),
            Middleware(DefaultHeaders),
            Middleware(HeaderSizeLimit),
            Middleware(RequestMetricsMiddleware, metrics=metrics),
        ],
        lifespan=lifespan,
    )


def from_settings() -> Starlette:
    """The API alone as the environment configures it: what each of ``jobtower api --workers N``'s
    processes serves. The command refused to start without ``REDIS_URL``."""
    return create_app(configured, str(configured.redis_url))
