"""The one settings class, read from the environment; ``settings`` is its one instance."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from jobtower.logging_setup import LogFormat
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


ID_SECRET_FILE = "id-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBTOWER_", extra="ignore")

    # `text` lines, or `json`: one object per line with the request, tenant, job and chunk.
    log_format: LogFormat = "text"
    # Where the embedded default keeps its SQLite file and Redis data.
    data_dir: Path = Path(".jobtower")
    # PostgreSQL in production (postgres://…); SQLite in ``data_dir`` when unset.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "JOBTOWER_DATABASE_URL")
    )
    # A Redis server of your own; when unset Jobtower starts one in ``data_dir``.
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "JOBTOWER_REDIS_URL")
    )

    # Modules that register job types when imported; every process imports them.
    job_types: list[str] = ["jobtower.demo"]

    # Workers: chunks one worker process runs at once, and how it holds them.
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=1.0, gt=0)
    # Outcomes are written every this many records or seconds, whichever comes first.
    # Fewer, bigger batches cost less per record (bench.throughput); slow records
    # still flush every ``flush_seconds``.
    flush_records: int = Field(default=2000, ge=1)
    flush_seconds: float = Field(default=0.5, gt=0)

    # Dispatcher: how often it schedules, and how long an enumeration handed to the
    # broker stays with it before it is handed out again.
    dispatch_interval_seconds: float = Field(default=0.1, gt=0)
    # A job started or resumed wakes the dispatcher over Redis, which hands its enumeration out
    # at once instead of at its next round, and the worker that enumerates chunks tells idle
    # slots itself. Off, only the rounds do (what a lost wake-up falls back to).
    dispatch_wakeups: bool = True
    queue_lease_seconds: float = Field(default=60.0, gt=0)

    # `jobtower serve`: worker processes it starts beside the API.
    serve_workers: int = Field(default=2, ge=0, le=64)
    # Finished jobs, their records and logs are pruned after this many days.
    retention_days: int = Field(default=30, ge=1)

    # API: pages on these origins may open the GraphQL WebSocket (e.g.
    # ["https://console.example.com"]); empty means same-origin pages only.
    allowed_origins: list[str] = []
    # Largest GraphQL request body (and GET URL) the API reads.
    max_request_bytes: int = Field(default=64 * 1024, ge=1024)
    # Largest GraphQL response (its JSON) the API sends: past it, RESPONSE_TOO_LARGE instead.
    # The heaviest journeys query the cost limit accepts answers about 9 MB.
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # A request's head and body must arrive within this many seconds of its first byte.
    request_read_seconds: float = Field(default=30.0, gt=0)
    # `/metrics` answers scrapes that send this as a bearer token, and is off (404) while it is
    # unset: its figures span every tenant. They are read from the database at most every
    # ``metrics_cache_seconds``, however many scrapers ask.
    metrics_token: SecretStr | None = None
    metrics_cache_seconds: float = Field(default=10.0, ge=0)
    # The queue depth by tenant names this many tenants, the deepest queues; the others are
    # added up under one label, so the series stay as few however many tenants there are.
    metrics_top_tenants: int = Field(default=10, ge=0, le=100)
    # OpenTelemetry traces of each job, from startJob to its chunks' runs, sent by OTLP over HTTP
    # where the standard OTEL_* settings say (jobtower.tracing). Needs the `tracing` extra.
    tracing: bool = False
    # Per principal (an API token), over every API process (counted in Redis): GraphQL HTTP
    # requests in flight at once, and requests per minute. Past either, 429 and Retry-After.
    max_concurrent_requests: int = Field(default=8, ge=1)
    max_requests_per_minute: int = Field(default=1_200, ge=1)
    # The same per tenant, all its tokens together: a tenant that makes many tokens does not
    # multiply its share of the API.
    max_tenant_concurrent_requests: int = Field(default=32, ge=1)
    max_tenant_requests_per_minute: int = Field(default=6_000, ge=1)
    # Ceilings on every tenant, whatever its plan: the records one job may ask for at
    # admission, and the root jobs one tenant may have admitted per minute (PLAN_LIMIT past them).
    max_records_per_job: int = Field(default=1_000_000, ge=1)
    max_jobs_per_minute: int = Field(default=600, ge=1)
    # GraphQL execution through gql.execution's shortcuts for plain fields and gql.fanout's
    # shared subscription answers (several times faster on big trees). Off (0) runs
    # Strawberry's own execution: the way out should a graphql-core release break them.
    graphql_fast_execution: bool = True
    # The key that seals ids and cursors, so they reveal no row counts: every API process of
    # one installation needs the same one (ids it gave out must still open). Unset, it is made
    # on first start in ``data_dir`` (the embedded default, or one API host).
    id_secret: SecretStr | None = None
    # WebSocket clients: connections and active subscriptions per principal over every API
    # process (leases in Redis), and how often a process renews those leases and rechecks its
    # connections' tokens (revoked, role changed); a dead process's leases end after three.
    ws_max_connections: int = Field(default=20, ge=1)
    ws_max_subscriptions: int = Field(default=100, ge=1)
    ws_recheck_seconds: float = Field(default=5.0, gt=0)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        from strawberry.http.websocket_origin import normalize_allowed_origins

        return sorted(normalize_allowed_origins(origins))

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite://{(self.data_dir / 'jobtower.db').resolve()}"

    def resolved_id_secret(self) -> bytes:
        """``id_secret``, else the one in ``data_dir``, made by the first process that needs it."""
        if self.id_secret is not None:
            return self.id_secret.get_secret_value().encode()
        path = self.data_dir / ID_SECRET_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f"{ID_SECRET_FILE}.{os.getpid()}")
            draft.touch(mode=0o600)
            draft.write_text(secrets.token_hex(32))
            try:
                # A link appears whole or not at all: of processes starting at once, the first
                # one's secret is the one every process reads.
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return path.read_text().strip().encode()


settings = Settings()
