"""Database wiring: the Tortoise config for a URL, connecting, and applying migrations."""

from __future__ import annotations

from contextlib import asynccontextmanager
from collections.abc import AsyncIterator
from typing import Any

from tortoise import Tortoise
from tortoise.backends.asyncpg import AsyncpgDBClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.transactions import in_transaction

APP = "jobtower"
MODELS_MODULE = "domain.models"
MIGRATIONS_MODULE = "domain.migrations"


def normalize_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling; give SQLite room for several processes."""
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite://") and "busy_timeout" not in url:
        url += ("&" if "?" in url else "?") + "busy_timeout=10000"
    return url


def connection_name(database_url: str) -> str:
    # Tortoise caches compiled SQL per connection name, so each backend gets its own name.
    return "postgres" if database_url.startswith(("postgres", "postgresql")) else "sqlite"


def tortoise_config(database_url: str, command_timeout: float | None = None) -> dict[str, Any]:
    """``command_timeout``: on PostgreSQL, the seconds any one statement may take before it
    fails (also one whose connection died under it unnoticed, which would wait forever)."""
    name = connection_name(database_url)
    url = normalize_url(database_url)
    connection: str | dict[str, Any] = url
    if name == "postgres":
        if command_timeout is not None:
            url += ("&" if "?" in url else "?") + f"command_timeout={command_timeout}"
        connection = expand_db_url(url)
        connection["credentials"]["reset"] = _keep_session
    return {
        "connections": {name: connection},
        "apps": {
            APP: {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": name,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def _keep_session(connection: object) -> None:
    """A pooled PostgreSQL connection goes back to its pool as it is. Nothing here sets state on
    a pooled session (settings are ``SET LOCAL``, advisory locks are taken on a connection of
    their own), so asyncpg's default reset (``RESET ALL``, ``UNLISTEN *``, unlocking advisory
    locks) would only cost a round trip after every statement, as Tortoise releases the
    connection after each. asyncpg still rolls back a transaction left open."""


async def connect(database_url: str, command_timeout: float | None = None) -> None:
    await Tortoise.init(config=tortoise_config(database_url, command_timeout), _enable_global_fallback=True)


async def close() -> None:
    await Tortoise.close_connections()


async def migrate(database_url: str) -> None:
    """Bring the schema up to date with Tortoise's own migrations, one migrating process at a
    time: two that start together (a deployment's every replica running it) would both create
    the same tables, and the second fail."""
    async with _migrating_alone(database_url):
        await tortoise_migrate(config=tortoise_config(database_url))
        await Tortoise.close_connections()


# The PostgreSQL advisory lock a migrating process holds; any number that no other tool
# of the same database uses.
MIGRATION_LOCK = 7_206_111_040


@asynccontextmanager
async def _migrating_alone(database_url: str) -> AsyncIterator[None]:
    """PostgreSQL's advisory lock, on a session of its own, held while the block runs (a process
    that dies loses it with its session). SQLite's own write lock already serializes."""
    if connection_name(database_url) != "postgres":
        yield
        return
    credentials = expand_db_url(normalize_url(database_url))["credentials"]
    client = AsyncpgDBClient(connection_name="migration_lock", **{**credentials, "minsize": 1, "maxsize": 1})
    try:
        # Held, not given back to the pool: asyncpg resets a released connection, locks and all.
        async with client.acquire_connection() as session:
            await session.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            yield
    finally:
        await client.close()  # the session ends, and its lock with it


@asynccontextmanager
async def database(
    database_url: str, *, apply_migrations: bool = False, command_timeout: float | None = None
) -> AsyncIterator[None]:
    if apply_migrations:
        await migrate(database_url)
    await connect(database_url, command_timeout)
    try:
        yield
    finally:
        await close()


# What `tortoise makemigrations` reads (pyproject's [tool.tortoise]); the schema it
# writes is database-neutral.
MIGRATION_CONFIG = tortoise_config("sqlite://:memory:")


def dialect() -> str:
    """``postgres`` or ``sqlite``: the backend the models are bound to."""
    from domain.models import Job

    return Job._meta.db.capabilities.dialect


async def fetch(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """A raw query written with ``?`` placeholders, run on whichever backend is connected."""
    from domain.models import Job

    client = Job._meta.db
    if client.capabilities.dialect == "postgres":
        sql = _numbered_placeholders(sql)
    return await client.execute_query_dict(sql, params)


def _numbered_placeholders(sql: str) -> str:
    parts = sql.split("?")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, 1))


@asynccontextmanager
async def transaction() -> AsyncIterator[Any]:
    """A write transaction. On SQLite it takes the write lock first: a transaction that
    read before writing cannot upgrade under WAL, while one waiting for the lock up
    front waits out ``busy_timeout`` like any writer."""
    async with in_transaction() as connection:
        if connection.capabilities.dialect == "sqlite":
            await connection.execute_query("UPDATE tenant SET id = id WHERE 0")
        yield connection


# PostgreSQL's serialization failure and deadlock: the transaction was rolled back whole
# and may simply run again.
_CONFLICT_STATES = frozenset({"40001", "40P01"})


def is_conflict(error: BaseException) -> bool:
    """Whether ``error`` is a transaction the database rolled back over a conflict with another."""
    return sqlstate(error) in _CONFLICT_STATES


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL error code behind ``error`` (Tortoise wraps the driver's), if there is one."""
    cause: BaseException | None = error
    while cause is not None:
        if code := getattr(cause, "sqlstate", None):
            return code
        cause = cause.__cause__
    return None


def compiled(queryset: Any) -> tuple[str, list[Any]]:
    """The SQL of a Tortoise query and its parameters, in the connected backend's placeholder
    style, built as running the query would build it: for a statement that embeds it."""
    queryset._choose_db_if_not_chosen()
    queryset._make_query()
    sql, params = queryset.query.get_parameterized_sql()
    return sql, list(params)
