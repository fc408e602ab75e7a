"""Live progress in Redis: the counts of chunks being worked on, and coalesced progress events.

The database holds each job's counters as of its last finished chunk; Redis holds
the counts of the chunks in flight. Live progress is the sum of the two, and
each worker flush overwrites its chunk's absolute counts, so a Redis restart
heals itself at the next flush.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.clock import utcnow
from domain.execution import Counts
from domain.logs import LogLine
from domain.statuses import EventKind
from workers import keys
from workers.events import JobEventMessage, LogsWritten

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


# One round trip: a chunk's counts (unless ARGV[1] is empty), then a PROGRESS event (the
# field/value pairs from ARGV[6]) unless the job had one less than ARGV[4] ms ago, from any
# worker. Returns 0 when the event went out, else the ms until the job may have the next one.
_PUBLISH = """
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
if ARGV[4] == '0' or redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', unpack(ARGV, 6))
  return 0
end
return math.max(redis.call('PTTL', KEYS[2]), 1)
"""


class ProgressPublisher:
    """One per worker process: publishes chunk counts, and at most one event per job per interval.

    The interval holds per job across every worker, so a job run by twenty workers
    does not send its subscribers twenty times the events. An event is only a
    prompt: readers take the figures from the chunk counts, which every flush
    updates. A flush that falls inside the interval leaves its prompt for the end
    of it, unless another worker's event comes first and covers it.

    Publishing is best effort: the outcomes are already in the database, and the
    next flush publishes absolute counts again, so a Redis outage only pauses
    live progress.
    """

    def __init__(self, redis: Redis, min_interval: float = 0.25) -> None:
        self.redis = redis
        self.interval_ms = round(min_interval * 1000)
        self._publish = redis.register_script(_PUBLISH)
        # Per job: the newest event a flush left for the end of the interval.
        self._trailing: dict[int, JobEventMessage] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def chunk_counts(
        self, *, job_id: int, tenant_id: int, seq: int, status: str, chunk_id: int, counts: Counts
    ) -> None:
        message = JobEventMessage(
            job_id=job_id, tenant_id=tenant_id, seq=seq, kind=EventKind.PROGRESS, status=status, at=""
        )
        wait_ms = await self._send(message, chunk_id, encode_counts(counts))
        if wait_ms:
            if job_id not in self._trailing:
                asyncio.get_running_loop().call_later(wait_ms / 1000, self._send_trailing, job_id)
            self._trailing[job_id] = message

    async def chunk_released(self, job_id: int, chunk_id: int) -> None:
        """The chunk's counts are in the database now (or it starts over elsewhere)."""
        try:
            await self.redis.hdel(keys.chunk_progress(job_id), str(chunk_id))
        except RedisError as error:
            log.warning("live progress not published: %s", error)

    def _send_trailing(self, job_id: int) -> None:
        message = self._trailing.pop(job_id, None)
        if message is not None:
            task = asyncio.ensure_future(self._send(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, message: JobEventMessage, chunk_id: int | None = None, counts: str = "") -> int:
        """Publish; 0 when the event went out (or Redis failed), else ms until it may."""
        stamped = replace(message, at=utcnow().isoformat())
        try:
            return int(
                await self._publish(
                    keys=[
                        keys.chunk_progress(message.job_id),
                        keys.progress_throttle(message.job_id),
                        keys.tenant_events(message.tenant_id),
                    ],
                    args=[
                        "" if chunk_id is None else str(chunk_id),
                        counts,
                        PROGRESS_TTL_SECONDS,
                        self.interval_ms,
                        STREAM_MAXLEN,
                        *(part for field in stamped.encode().items() for part in field),
                    ],
                )
            )
        except RedisError as error:
            log.warning("live progress not published: %s", error)
            return 0

    async def logs(self, lines: Iterable[LogLine]) -> None:
        """Announce a flush of lines written to the database: one entry per job, not per line."""
        levels: dict[int, set[str]] = {}
        for line in lines:
            levels.setdefault(line.job_id, set()).add(line.level.value)
        pipe = self.redis.pipeline(transaction=False)
        for job_id, written in levels.items():
            flush = LogsWritten(job_id=job_id, levels=frozenset(written))
            pipe.xadd(keys.job_logs(job_id), flush.encode(), maxlen=LOG_STREAM_MAXLEN, approximate=True)
        try:
            await pipe.execute()
        except RedisError as error:
            log.warning("live logs not published: %s", error)
