"""The ``jobtower`` command. Every subcommand reads the same settings."""

from __future__ import annotations

import asyncio
import logging.config
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click
import uvloop

from tortoise.exceptions import BaseORMException

from domain import db
from domain.access import Role
from domain.errors import JobtowerError
from domain.tenants import create_tenant, create_token
from jobtower.logging_setup import logging_config
from jobtower.settings import settings

T = TypeVar("T")


def _run(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database; domain refusals become clean CLI errors."""

    async def connected() -> T:
        async with db.database(settings.resolved_database_url):
            return await work()

    try:
        return asyncio.run(connected())
    except JobtowerError as error:
        raise click.ClickException(error.message) from None
    except BaseORMException as error:
        raise click.ClickException(
            f"the database refused: {error}. Has `jobtower migrate` run on it?"
        ) from None


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived process's loop on uvloop: its callbacks, timers and sockets in C took a
    worker's CPU per record from 48 to 44 µs (``bench.throughput``)."""
    uvloop.run(main)


@click.group()
def main() -> None:
    """Jobtower: runs long background jobs and is the control tower for them."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Run the API, the dispatcher and workers (SQLite and Redis of its own by default)."""
    from jobtower.server import serve as run_everything

    _log_to_stderr()
    run_everything(settings, host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="API processes sharing the port: each is one event loop, so more of them use more cores.",
)
def api(host: str, port: int, workers: int) -> None:
    """Run only the API (production: beside `jobtower worker` and `jobtower dispatcher`)."""
    from jobtower.server import serve_api

    _log_to_stderr()
    serve_api(settings, _required_redis_url(), host, port, workers=workers)


@main.command()
def worker() -> None:
    """Run a worker process: takes chunks from the broker and runs them."""
    from workers.worker import run_worker

    _log_to_stderr()
    _run_loop(run_worker(settings, _required_redis_url()))


@main.command()
def dispatcher() -> None:
    """Run a dispatcher: hands ready chunks to workers fairly (one leader at a time)."""
    from workers.dispatcher import run_dispatcher

    _log_to_stderr()
    _run_loop(run_dispatcher(settings, _required_redis_url()))


@main.command()
@click.argument("role", type=click.Choice(["worker", "dispatcher"]))
def alive(role: str) -> None:
    """Exit 0 if a ROLE process of this host is live, else 1 (a container health check)."""
    from redis.exceptions import RedisError

    from workers.presence import alive_on_this_host

    try:
        live = asyncio.run(alive_on_this_host(_required_redis_url(), role))
    except RedisError as error:
        raise click.ClickException(f"Redis unreachable: {error}") from None
    if not live:
        raise click.ClickException(f"no live {role} on this host")


def _required_redis_url() -> str:
    if not settings.redis_url:
        raise click.UsageError("set REDIS_URL (only `jobtower serve` starts a Redis of its own)")
    return settings.redis_url


def _log_to_stderr() -> None:
    logging.config.dictConfig(logging_config(settings.log_format))


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    asyncio.run(db.migrate(settings.resolved_database_url))
    click.echo("database is up to date", err=True)


@main.group()
def tenant() -> None:
    """Manage tenants."""


@tenant.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (defaults to the slug).")
@click.option("--jobs-per-month", type=click.IntRange(min=0), help="Monthly limit of jobs started.")
@click.option(
    "--records-per-month", type=click.IntRange(min=0), help="Monthly limit of records processed."
)
def tenant_create(
    slug: str, name: str | None, jobs_per_month: int | None, records_per_month: int | None
) -> None:
    """Create the tenant SLUG."""
    created = _run(
        lambda: create_tenant(
            slug, name, jobs_per_month=jobs_per_month, records_per_month=records_per_month
        )
    )
    click.echo(f"created tenant {created.slug}", err=True)


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--tenant", "tenant_slug", required=True, help="Slug of the tenant.")
@click.option(
    "--role",
    required=True,
    type=click.Choice([role.value for role in Role], case_sensitive=False),
    metavar="[VIEWER|OPERATOR|ADMIN|PLATFORM]",
    help="What the token may do.",
)
@click.option("--name", help="Who or what will use the token.")
def token_create(tenant_slug: str, role: str, name: str | None) -> None:
    """Print a new API token (and nothing else) on stdout."""
    issued: Any = _run(lambda: create_token(tenant_slug, Role(role.upper()), name))
    click.echo(issued.token)


if __name__ == "__main__":
    main()
