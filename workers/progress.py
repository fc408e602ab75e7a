"""Live progress in Redis: the counts of chunks being worked on, and coalesced progress events.

The database holds each job's counters as of its last finished chunk; Redis holds
the counts of the chunks in flight. Live progress is the sum of the two, and
each worker flush overwrites its chunk's absolute counts, so a Redis restart
heals itself at the next flush.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from domain.clock import utcnow
from domain.execution import Counts
from domain.logs import LogLine
from domain.statuses import EventKind
from workers import keys
from workers.events import JobEventMessage

STREAM_MAXLEN = 100_000
LOG_STREAM_MAXLEN = 10_000
PROGRESS_TTL_SECONDS = 24 * 3600

log = logging.getLogger(__name__)


def encode_counts(counts: Counts) -> str:
    return f"{counts.done},{counts.succeeded},{counts.failed},{counts.skipped}"


def decode_counts(raw: bytes | str) -> Counts:
    text = raw.decode() if isinstance(raw, bytes) else raw
    done, succeeded, failed, skipped = (int(part) for part in text.split(","))
    return Counts(done=done, succeeded=succeeded, failed=failed, skipped=skipped)


async def in_flight_counts(redis: Redis, job_ids: Sequence[int]) -> dict[int, Counts]:
    """What the chunks in flight add to each job's database counters."""
    pipe = redis.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hvals(keys.chunk_progress(job_id))
    totals: dict[int, Counts] = {}
    for job_id, values in zip(job_ids, await pipe.execute(), strict=True):
        parts = [decode_counts(value) for value in values]
        totals[job_id] = Counts(
            done=sum(p.done for p in parts),
            succeeded=sum(p.succeeded for p in parts),
            failed=sum(p.failed for p in parts),
            skipped=sum(p.skipped for p in parts),
        )
    return totals


class ProgressPublisher:
    """One per worker process: publishes chunk counts, and at most a few events per job per second.

    Publishing is best effort: the outcomes are already in the database, and the
    next flush publishes absolute counts again, so a Redis outage only pauses
    live progress.
    """

    def __init__(self, redis: Redis, min_interval: float = 0.25) -> None:
        self.redis = redis
        self.min_interval = min_interval
        self._last_event: dict[int, float] = {}

    async def chunk_counts(
        self, *, job_id: int, tenant_id: int, seq: int, status: str, chunk_id: int, counts: Counts
    ) -> None:
        pipe = self.redis.pipeline(transaction=False)
        key = keys.chunk_progress(job_id)
        pipe.hset(key, str(chunk_id), encode_counts(counts))
        pipe.expire(key, PROGRESS_TTL_SECONDS)
        now = time.monotonic()
        if now - self._last_event.get(job_id, 0.0) >= self.min_interval:
            self._last_event[job_id] = now
            message = JobEventMessage(
                job_id=job_id,
                tenant_id=tenant_id,
                seq=seq,
                kind=EventKind.PROGRESS,
                status=status,
                at=utcnow().isoformat(),
            )
            pipe.xadd(
                keys.tenant_events(tenant_id), message.encode(), maxlen=STREAM_MAXLEN, approximate=True
            )
        await _send(pipe)

    async def chunk_released(self, job_id: int, chunk_id: int) -> None:
        """The chunk's counts are in the database now (or it starts over elsewhere)."""
        self._last_event.pop(job_id, None)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hdel(keys.chunk_progress(job_id), str(chunk_id))
        await _send(pipe)

    async def logs(self, lines: Iterable[LogLine]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for line in lines:
            pipe.xadd(
                keys.job_logs(line.job_id),
                {
                    "at": line.at.isoformat(),
                    "level": line.level.value,
                    "message": line.message,
                    "chunk": "" if line.chunk_index is None else str(line.chunk_index),
                    "record": line.record_key or "",
                },
                maxlen=LOG_STREAM_MAXLEN,
                approximate=True,
            )
        await _send(pipe)


async def _send(pipe: Pipeline) -> None:
    try:
        await pipe.execute()
    except RedisError as error:
        log.warning("live progress not published: %s", error)
