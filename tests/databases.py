"""Empty databases for tests that must start from nothing, and plain SQL to look inside them.

These bypass Tortoise on purpose: the tests that use them check what the
application wrote, from outside the application.
"""

from __future__ import annotations

import inspect
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise.models import Model

from domain import models


def model_tables() -> set[str]:
    """Every table the models declare."""
    return {
        value._meta.db_table
        for value in vars(models).values()
        if inspect.isclass(value)
        and issubclass(value, Model)
        and value.__module__ == models.__name__
    }


@asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``server_url``; dropped afterwards."""
    name = f"jt_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def fetch_rows(database_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql``; placeholders are ``$1``, ``$2``… on both backends."""
    if database_url.startswith("sqlite://"):
        # sqlite3 spells numbered placeholders ?1, ?2…
        sqlite_sql = re.sub(r"\$(\d+)", r"?\1", sql)
        with closing(sqlite3.connect(database_url.removeprefix("sqlite://"))) as connection:
            return connection.execute(sqlite_sql, args).fetchall()
    connection = await asyncpg.connect(database_url)
    try:
        return [tuple(row) for row in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


async def table_names(database_url: str) -> set[str]:
    if database_url.startswith("sqlite://"):
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return {name for (name,) in await fetch_rows(database_url, sql)}
