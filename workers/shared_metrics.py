"""Counters and histograms that worker and dispatcher processes add to, kept in Redis.

Those processes serve no ``/metrics`` of their own, and an API process's registry sees only
what happens in it; so what they measure goes to one Redis hash per metric
(``keys.shared_metric``), added to atomically (HINCRBY), and every API process reads the
same totals at a scrape (``jobtower.metrics``). The figures are platform-wide like the job
figures: any one process's copy will do.

Adding never fails the work it measures: with Redis unreachable the observation is lost
(a counter then reads low, never wrong in the other direction), and a Redis that comes back
empty restarts the counters from zero, which Prometheus' ``rate()`` reads as a reset.
Every label value is known in advance, so the series exist, at zero, from the first scrape.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from workers import keys

log = logging.getLogger(__name__)

# The field of a histogram's hash holding the sum of what it observed.
SUM_FIELD = "sum"
INFINITY = "+Inf"


@dataclass(frozen=True)
class SharedCounter:
    """A counter with one label, whose values are known in advance."""

    name: str  # without Prometheus' ``_total``
    help: str
    label: str
    values: tuple[str, ...]

    async def add(self, redis: Redis, value: str, amount: int = 1) -> None:
        if value not in self.values:
            raise ValueError(f"{self.name}: {self.label}={value!r} is not one of {self.values}")
        try:
            await redis.hincrby(keys.shared_metric(self.name), value, amount)
        except RedisError as error:
            log.warning("could not count %s: %s", self.name, error)

    async def read(self, redis: Redis) -> dict[str, int]:
        """The count of each label value, zeros included."""
        found = await redis.hgetall(keys.shared_metric(self.name))
        counts = {_text(field): int(count) for field, count in found.items()}
        return {value: counts.get(value, 0) for value in self.values}


@dataclass(frozen=True)
class HistogramCounts:
    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]  # observations at most each bound
    count: int
    total: float


@dataclass(frozen=True)
class SharedHistogram:
    """A histogram without labels: per bucket, how many observations fell in it (not at most its
    bound: one HINCRBY per observation), summed up at the scrape."""

    name: str
    help: str
    bounds: tuple[float, ...]

    async def observe(self, redis: Redis, values: Sequence[float]) -> None:
        if not values:
            return
        key = keys.shared_metric(self.name)
        buckets: dict[str, int] = {}
        for value in values:
            bucket = self._bucket(value)
            buckets[bucket] = buckets.get(bucket, 0) + 1
        try:
            async with redis.pipeline(transaction=True) as pipe:
                for bucket, count in buckets.items():
                    pipe.hincrby(key, bucket, count)
                pipe.hincrbyfloat(key, SUM_FIELD, sum(values))
                await pipe.execute()
        except RedisError as error:
            log.warning("could not observe %s: %s", self.name, error)

    async def read(self, redis: Redis) -> HistogramCounts:
        found = {_text(field): value for field, value in (await redis.hgetall(keys.shared_metric(self.name))).items()}
        running = 0
        cumulative = []
        for bound in self.bounds:
            running += int(found.get(_field(bound), 0))
            cumulative.append(running)
        count = running + int(found.get(INFINITY, 0))
        return HistogramCounts(self.bounds, tuple(cumulative), count, float(found.get(SUM_FIELD, 0.0)))

    def _bucket(self, value: float) -> str:
        index = bisect.bisect_left(self.bounds, value)
        return _field(self.bounds[index]) if index < len(self.bounds) else INFINITY


def _field(bound: float) -> str:
    return repr(float(bound))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# ---------------------------------------------------------------- what the workers and dispatchers measure

DISPATCH_LATENCY = SharedHistogram(
    "chunk_dispatch_latency_seconds",
    "From a chunk becoming ready to run (written, requeued, resumed, answered) to a worker slot "
    "taking it.",
    bounds=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
# What became of a chunk whose worker stopped renewing its lease (it died, froze or lost
# its database) once the dispatcher reaped it: run again from its cursor, or given up.
LEASE_RETRIED = "retried"
LEASE_GIVEN_UP = "given_up"
LEASES_LOST = SharedCounter(
    "chunk_leases_lost",
    "Chunk leases that expired, their worker gone or stalled, and were reaped by the dispatcher: "
    "the chunk runs again from its cursor (retried) or, lost too often, fails (given_up).",
    label="outcome",
    values=(LEASE_RETRIED, LEASE_GIVEN_UP),
)
MESSAGES_RECLAIMED = SharedCounter(
    "stream_messages_reclaimed",
    "Task messages a worker took over from a consumer that read them and never acknowledged "
    "them (it died), by stream.",
    label="stream",
    values=(keys.FREE_SLOT_STREAM, keys.ENUMERATION_STREAM, keys.BULK_STREAM),
)
COUNTERS = (LEASES_LOST, MESSAGES_RECLAIMED)
HISTOGRAMS = (DISPATCH_LATENCY,)
