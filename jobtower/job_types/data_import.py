"""``data_import``: loads the rows of an uploaded CSV file into the workspace.

Per row: ``parse`` it, ``validate`` it, ``load`` it. A seeded share of rows is
bad (a missing email, a date that does not parse): their record fails. Once the
file has shown more than ``maxBadRows`` bad rows the import gives up and the
run FAILS: a file that bad is the wrong file, and loading the rest would only
spread its errors. A malformed file (``malformedAtRow``: its structure breaks
there, an unterminated quote) fails the run at that row, as nothing after it
can be read reliably.

Which rows are bad depends only on the file name and the row number, so the
same rows are bad, and the same row ends the import, on every run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import lru_cache
from typing import Any

from domain.registry import FailJob, JobType, RecordContext, Step, registry
from jobtower.job_types.simulated import (
    LATENCY_SCHEMA,
    RATE_SCHEMA,
    fraction,
    latency,
    seeded,
    stable_id,
    with_defaults,
)

# Uploads are capped; the bad-row limit is found by reading the file from its first row.
MAX_ROWS = 250_000

PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "file": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "default": "contacts-export.csv",
            "description": "The uploaded file's name.",
        },
        "rows": {"type": "integer", "minimum": 0, "maximum": MAX_ROWS, "default": 2000},
        "badRowRate": {
            **RATE_SCHEMA,
            "default": 0.005,
            "description": "Share of rows with a value that does not validate; their record fails.",
        },
        "maxBadRows": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_ROWS,
            "default": 25,
            "description": "More bad rows than this fail the whole import.",
        },
        "malformedAtRow": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_ROWS - 1,
            "description": "The row where the file's structure breaks; the import fails there."
            " Leave it out for a well-formed file.",
        },
        "latencyScale": {**LATENCY_SCHEMA, "default": 1},
    },
    "additionalProperties": False,
}

PROBLEMS = ("email is missing", "signup date 31/02/2026 is not a date", "country 'XX' is unknown")


class InvalidRow(Exception):
    """A value of the row does not validate; the other rows load."""


def row_key(file: str, row: int) -> str:
    return f"{file}/row-{row:07d}"


def row_of(key: str) -> int:
    # From the key, not the record's position: a retry of the failed rows numbers its records anew.
    return int(key.rsplit("-", 1)[1])


def bad(key: str, params: Mapping[str, Any]) -> bool:
    return seeded(key, with_defaults(params, PARAMS_SCHEMA)["badRowRate"], "bad-row")


def too_many_bad_rows_from(params: Mapping[str, Any]) -> int | None:
    """The first bad row over ``maxBadRows`` (it and every bad row after it fail the run), if any."""
    options = with_defaults(params, PARAMS_SCHEMA)
    return _first_bad_row_over(options["file"], options["rows"], options["badRowRate"], options["maxBadRows"])


@lru_cache(maxsize=64)
def _first_bad_row_over(file: str, rows: int, rate: float, allowed: int) -> int | None:
    if rate == 0:
        return None
    seen = 0
    for row in range(rows):
        if seeded(row_key(file, row), rate, "bad-row"):
            seen += 1
            if seen > allowed:
                return row
    return None


async def file_rows(params: Mapping[str, Any]) -> AsyncIterator[str]:
    options = with_defaults(params, PARAMS_SCHEMA)
    for row in range(options["rows"]):
        yield row_key(options["file"], row)


async def parse(context: RecordContext) -> None:
    await latency(context.params, context.key, 1, "parse")
    options = with_defaults(context.params, PARAMS_SCHEMA)
    row = row_of(context.key)
    if row == options.get("malformedAtRow"):
        raise FailJob(f"{options['file']} is malformed at row {row}: unterminated quoted field")
    context.state["columns"] = 6 + int(fraction(context.key, "columns") * 4)


async def validate(context: RecordContext) -> None:
    await latency(context.params, context.key, 1, "validate")
    if not bad(context.key, context.params):
        return
    options = with_defaults(context.params, PARAMS_SCHEMA)
    row = row_of(context.key)
    first_over = too_many_bad_rows_from(context.params)
    if first_over is not None and row >= first_over:
        raise FailJob(
            f"{options['file']} has more than {options['maxBadRows']} bad rows"
            f" (row {first_over} is one too many); the import stops"
        )
    problem = PROBLEMS[int(fraction(context.key, "problem") * len(PROBLEMS))]
    raise InvalidRow(f"row {row}: {problem}")


async def load(context: RecordContext) -> None:
    await latency(context.params, context.key, 5, "load")
    created = fraction(context.key, "new") < 0.7
    context.set_detail(
        {"action": "created" if created else "updated", "contactId": stable_id(context.key, "contact")}
    )


DATA_IMPORT = registry.register(
    JobType(
        name="data_import",
        label="Data import",
        description="Imports the rows of an uploaded CSV file; a malformed file or too many bad rows fail it.",
        enumerate=file_rows,
        steps=(Step("parse", parse), Step("validate", validate), Step("load", load)),
        default_chunk_size=500,
        record_concurrency=8,
        estimate_records=lambda params: with_defaults(params, PARAMS_SCHEMA)["rows"],
        params_schema=PARAMS_SCHEMA,
    )
)
