"""How every Jobtower process logs: a plain text line per entry, or one JSON object per line
for a log pipeline (``JOBTOWER_LOG_FORMAT=json``).

Each entry carries what it is about: the request, the tenant, the job and the chunk, as
``log_fields`` bound them for the code running now (a request, a chunk's run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

_fields: ContextVar[Mapping[str, object]] = ContextVar("log_fields", default={})


@contextmanager
def log_fields(**fields: object) -> Iterator[None]:
    """Entries logged inside the block (and in tasks it starts) carry ``fields``."""
    token = _fields.set({**_fields.get(), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def bind_log_fields(**fields: object) -> None:
    """Add ``fields`` for the rest of the enclosing ``log_fields`` block (e.g. the tenant,
    once a request is authenticated)."""
    _fields.set({**_fields.get(), **fields})


def bound_log_fields() -> Mapping[str, object]:
    return _fields.get()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if fields := _fields.get():
            about = " ".join(f"{name}={value}" for name, value in fields.items())
            head, _, rest = line.partition("\n")
            line = f"{head} [{about}]" + (f"\n{rest}" if rest else "")
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(log_format: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for this process and uvicorn's loggers alike (uvicorn
    applies it in each of its worker processes too)."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    handler = {"class": "logging.StreamHandler", "formatter": "jobtower", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"jobtower": {"()": formatter}},
        "handlers": {"stderr": handler},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            name: {"level": "INFO", "handlers": ["stderr"], "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
