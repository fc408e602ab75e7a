"""What the demo job types share to look like real work: latency and seeded failures.

Both depend only on the record key (and a salt naming the decision), never on
chance, so the same keys are slow, skipped or failing on every run, and tests
can tell in advance which records end how.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from typing import Any

# Params every demo type (but noop, which has ``stepMs``) accepts to scale its latencies.
LATENCY_PARAM = "latencyScale"
LATENCY_SCHEMA = {
    "type": "number",
    "minimum": 0,
    "maximum": 100,
    "description": "Multiplies the simulated latencies; 0 makes every step instant.",
}
RATE_SCHEMA = {"type": "number", "minimum": 0, "maximum": 1}

_BUCKETS = 10_000


def _bucket(key: str, salt: str) -> int:
    text = f"{salt}:{key}" if salt else key
    return zlib.crc32(text.encode()) % _BUCKETS


def fraction(key: str, salt: str = "") -> float:
    """A stable number in [0, 1) for ``key``; a different ``salt`` gives an independent one."""
    return _bucket(key, salt) / _BUCKETS


def stable_id(key: str, salt: str) -> str:
    """A made-up identifier for ``key``, e.g. the id a provider gives a sent message."""
    return f"{zlib.crc32(f'{salt}:{key}'.encode()):08x}"


def seeded(key: str, rate: float, salt: str = "") -> bool:
    """Whether ``key`` falls in the seeded ``rate`` share of keys (0..1); the same on every run."""
    return _bucket(key, salt) < rate * _BUCKETS


async def latency(params: Mapping[str, Any], key: str, base_ms: float, salt: str = "") -> None:
    """Sleep about ``base_ms`` (between half and one and a half times), scaled by ``latencyScale``."""
    scale = params.get(LATENCY_PARAM, 1.0)
    if scale <= 0 or base_ms <= 0:
        return
    await asyncio.sleep(base_ms * scale * (0.5 + fraction(key, salt or "latency")) / 1000)


def with_defaults(params: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` completed with the ``default`` of every property the schema declares one for."""
    defaults = {
        name: spec["default"] for name, spec in schema["properties"].items() if "default" in spec
    }
    return {**defaults, **params}
