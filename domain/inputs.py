"""What every input a client stores must be, whatever its schema says.

Text holds no NUL character: PostgreSQL cannot store one (the request would fail inside the
database) and SQLite would keep it. JSON numbers are finite: NaN passes every ``minimum`` and
``maximum`` of a schema, no JSON column can hold it faithfully, and a step handed one breaks
(``asyncio.sleep(nan)``). Admission, schedules, answers to waiting records and searches check
here, and a refusal names the field as the client sent it: ``name``, ``params.items.3``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from domain.errors import InvalidInput

# The width of the name columns of jobs and schedules.
MAX_NAME_LENGTH = 200


def check_text(field: str, value: str | None, max_length: int) -> None:
    if value is None:
        return
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")


def check_name(name: str) -> None:
    """The name of a job or a schedule: what lists show, so never blank."""
    check_text("name", name, MAX_NAME_LENGTH)
    if not name.strip():
        raise InvalidInput("name", "must not be blank")


def check_json(field: str, value: Any) -> None:
    """``InvalidInput`` naming a string of ``value`` with a NUL character, or a number that is
    not finite; a key with a NUL character is named by the object that holds it."""
    # Iterative, shallowest first: a deeply nested value must not exhaust the stack.
    pending: deque[tuple[str, Any]] = deque([(field, value)])
    while pending:
        path, item = pending.popleft()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidInput(path, "must not contain NUL characters")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(path, f"must be a finite number, not {item}")
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    raise InvalidInput(path, "keys must not contain NUL characters")
                pending.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            pending.extend((f"{path}.{index}", child) for index, child in enumerate(item))
