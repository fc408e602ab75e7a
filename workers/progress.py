"""Live progress in Redis: coalesced progress events, and the job log lines workers flush.

The figures live in the database, raised in the transaction that writes the
records (``domain.counts``); an event only prompts readers to look again, so a
pull refresh and the stream always show the same, never decreasing, numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.clock import utcnow
from domain.logs import LogLine
from domain.statuses import EventKind
from workers import keys
from workers.events import JobEventMessage, LogsWritten

STREAM_MAXLEN = 100_000
LOG_STREAM_MAXLEN = 10_000

log = logging.getLogger(__name__)


# One round trip: a PROGRESS event (the field/value pairs from ARGV[3]) unless the job had
# one less than ARGV[1] ms ago, from any worker. Returns 0 when the event went out, else
# the ms until the job may have the next one.
_PUBLISH = """
if ARGV[1] == '0' or redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
  return 0
end
return math.max(redis.call('PTTL', KEYS[1]), 1)
"""


class ProgressPublisher:
    """One per worker process: at most one progress event per job per interval.

    The interval holds per job across every worker, so a job run by twenty workers
    does not send its subscribers twenty times the events. An event is only a
    prompt: readers take the figures from the database, which every flush updates.
    A flush that falls inside the interval leaves its prompt for the end of it,
    unless another worker's event comes first and covers it.

    Publishing is best effort: the outcomes are already in the database, so a
    Redis outage only pauses live progress.
    """

    def __init__(self, redis: Redis, min_interval: float = 0.25) -> None:
        self.redis = redis
        self.interval_ms = round(min_interval * 1000)
        self._publish = redis.register_script(_PUBLISH)
        # Per job: the newest event a flush left for the end of the interval.
        self._trailing: dict[int, JobEventMessage] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def progress(self, *, job_id: int, tenant_id: int, seq: int, status: str) -> None:
        message = JobEventMessage(
            job_id=job_id, tenant_id=tenant_id, seq=seq, kind=EventKind.PROGRESS, status=status, at=""
        )
        wait_ms = await self._send(message)
        if wait_ms:
            if job_id not in self._trailing:
                asyncio.get_running_loop().call_later(wait_ms / 1000, self._send_trailing, job_id)
            self._trailing[job_id] = message

    def _send_trailing(self, job_id: int) -> None:
        message = self._trailing.pop(job_id, None)
        if message is not None:
            task = asyncio.ensure_future(self._send(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, message: JobEventMessage) -> int:
        """Publish; 0 when the event went out (or Redis failed), else ms until it may."""
        stamped = replace(message, at=utcnow().isoformat())
        try:
            return int(
                await self._publish(
                    keys=[keys.progress_throttle(message.job_id), keys.tenant_events(message.tenant_id)],
                    args=[
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
