"""Redis streams for subscribers: one reader per API process, fanned out to local mailboxes.

Every subscription of this process registers a ``Mailbox`` for the streams it
follows (a tenant's job events, a job's log lines). One task reads all of them
with a single blocking XREAD on one connection, decodes each entry once and
hands it to every mailbox of its stream: 500 subscribers cost one read, not 500
polling connections. When the set of streams changes, a write to the process's
own wake stream ends the blocking read early.

A mailbox may name a read-ahead (``prepare``): what its subscriber will read
for an entry (a job's state) is read once, before the entry is handed out, so
500 subscribers wake once and find it done. Hand-outs of a stream keep its order.
A subscriber waiting with nothing pending may even take entries in the hand-out
itself (``take(offer)``): one that can send them at once, from what was read
ahead, does not wake at all.

A new stream is read from where it ended when the first mailbox asked for it,
and a mailbox is registered before its subscriber reads the database, so
nothing published after that read can fall between the two.

A stream whose entries only say "look again" (a job's log stream: subscribers
read the lines from the database) can be coalesced per key: at most one entry
per ``coalesce_seconds`` is handed out, the newest, and none once an entry that
may not wait has superseded it. However fast workers flush, a subscriber reads
a few times a second.

Mailboxes are bounded. One that overflows drops what it holds and is marked
``lost``, so a slow subscriber never holds up the others; it catches up from
the database, which keeps every job event and log line. A Redis outage is
reported to every mailbox the same way, and to whoever watches whether entries can be read
at all (``readable_changes``: a live screen says its updates are held up rather than
"live" while they are). What a subscriber makes of the entries
is its own business; the streams Jobtower writes, and how to read them, are at
the end of this module.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.clock import utcnow
from workers import keys
from domain.statuses import BULK_OPEN, BulkOperationStatus
from workers.events import BulkOperationAdvanced, JobEventMessage, LogsWritten

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Decoder = Callable[[dict[Any, Any]], Any]
# For a decoded entry: its key, and whether it may wait to be coalesced with newer ones.
Coalesce = Callable[[Any], tuple[Hashable, bool]]
# Which decoded entries a mailbox keeps (a jobUpdated subscriber: its job's only).
Accept = Callable[[Any], bool]
# Reads ahead what a mailbox's subscriber will need for entries, before they are handed out.
Prepare = Callable[["StreamHub", list["Entry"]], Awaitable[None]]
# Takes entries in the hand-out, in the hub's turn: True when it dealt with all of them,
# False (having done nothing) when its subscriber must wake to take them.
Offer = Callable[[list["Entry"]], bool]

MAILBOX_CAPACITY = 1000
# How long one XREAD waits for entries; well under the client's socket timeout
# (redis-py's default is 5 s), which would otherwise cut a quiet read short.
BLOCK_MS = 2000
READ_BATCH = 1000
SHARED_LOADS = 4096
COALESCE_SECONDS = 0.25
# The longest entries wait for their read-ahead; after that subscribers read for themselves.
PREPARE_SECONDS = 2.0
REMEMBERED_KEYS = 10_000


@dataclass(frozen=True)
class StreamKind:
    """How to read one kind of stream: decode its entries, and which of them to coalesce."""

    decode: Decoder
    coalesce: Coalesce | None = None


@dataclass(frozen=True)
class Entry:
    stream: str
    id: str
    message: Any
    # What subscribers derive from the entry, computed by the first one that needs it.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Delivery:
    """What a mailbox received since it was last read, in stream order.

    ``lost_since`` is set when entries were dropped after that moment (the
    mailbox overflowed or Redis was unreachable): the database has them.
    """

    entries: list[Entry]
    lost_since: datetime | None = None


class Mailbox:
    def __init__(
        self,
        hub: StreamHub,
        streams: tuple[str, ...],
        capacity: int,
        accept: Accept | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        self.hub = hub
        self.streams = streams
        self.capacity = capacity
        self.accept = accept
        self.prepare = prepare
        self._entries: deque[Entry] = deque()
        self._arrived = asyncio.Event()
        self._last_read_at = utcnow()
        self._lost_since: datetime | None = None
        self._offer: Offer | None = None
        self.closed = False

    def keep(self, entries: list[Entry]) -> list[Entry]:
        """The entries this mailbox takes."""
        return entries if self.accept is None else [entry for entry in entries if self.accept(entry.message)]

    def put(self, entries: list[Entry], now: datetime | None = None) -> None:
        """Add entries it keeps (``keep``), handed out at ``now``."""
        if self._lost_since is not None:
            return  # the subscriber reads the database before anything newer
        if self._offer is not None and not self._entries and self._offered(self._offer, entries):
            self._last_read_at = now or utcnow()
            return
        if len(self._entries) + len(entries) > self.capacity:
            self.lose()
            return
        self._entries.extend(entries)
        self._arrived.set()

    def lose(self) -> None:
        self._entries.clear()
        if self._lost_since is None:
            self._lost_since = self._last_read_at
        self._arrived.set()

    async def take(self, offer: Offer | None = None) -> Delivery:
        """Wait until something arrived, then take all of it; meanwhile ``offer`` may take
        what arrives (in order: nothing else is waiting), and what it takes is not delivered here."""
        while not self._entries and self._lost_since is None:
            self._arrived.clear()
            self._offer = offer
            try:
                await self._arrived.wait()
            finally:
                self._offer = None
        delivery = Delivery(list(self._entries), self._lost_since)
        self._entries.clear()
        self._lost_since = None
        self._last_read_at = utcnow()
        return delivery

    def close(self) -> None:
        self.closed = True
        self.hub.leave(self)

    @staticmethod
    def _offered(offer: Offer, entries: list[Entry]) -> bool:
        try:
            return offer(entries)
        except Exception:  # one subscriber's fault must not stop the hand-out to the others
            log.exception("a subscriber failed to take entries in the hand-out; it takes them itself")
            return False


class SharedLoads:
    """Loads shared by every subscriber of the process: the job behind a stream entry is read
    once, however many subscribers deliver the entry, and keys missing together load together."""

    def __init__(self, size: int = SHARED_LOADS) -> None:
        self.size = size
        self._batches: OrderedDict[Hashable, asyncio.Future[Mapping[Any, Any]]] = OrderedDict()

    async def get_many(
        self, keys: Sequence[K], load: Callable[[list[K]], Awaitable[Mapping[K, V]]]
    ) -> dict[K, V]:
        missing = [key for key in keys if not self._usable(key)]
        if missing:
            batch = asyncio.ensure_future(load(missing))
            for key in missing:
                self._batches[key] = batch
        batches = {key: self._batches[key] for key in keys}
        for key in keys:
            self._batches.move_to_end(key)
        while len(self._batches) > self.size:
            self._batches.popitem(last=False)
        found: dict[K, V] = {}
        for key, batch in batches.items():
            # Shielded: a subscriber that goes away does not cancel the others' load.
            found[key] = (batch.result() if batch.done() else await asyncio.shield(batch))[key]
        return found

    def loaded(self, key: Hashable) -> tuple[bool, Any]:
        """Whether ``key`` is loaded already, and its value: what a subscriber may use without waiting."""
        batch = self._batches.get(key)
        if batch is None or not batch.done() or batch.cancelled() or batch.exception() is not None:
            return False, None
        return True, batch.result()[key]

    def _usable(self, key: Hashable) -> bool:
        batch = self._batches.get(key)
        return batch is not None and not (batch.done() and (batch.cancelled() or batch.exception() is not None))


class StreamHub:
    def __init__(
        self,
        redis: Redis,
        *,
        capacity: int = MAILBOX_CAPACITY,
        block_ms: int = BLOCK_MS,
        coalesce_seconds: float = COALESCE_SECONDS,
    ) -> None:
        self.redis = redis
        self.capacity = capacity
        self.coalesce_seconds = coalesce_seconds
        socket_timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
        self.block_ms = min(block_ms, int(socket_timeout * 500)) if socket_timeout else block_ms
        self.shared = SharedLoads()
        self._wake_stream = keys.api_wake(uuid.uuid4().hex)
        self._wake_position = "0-0"
        self._positions: dict[str, str] = {}
        self._kinds: dict[str, StreamKind] = {}
        self._mailboxes: dict[str, set[Mailbox]] = {}
        # Coalescing, per (stream, key): when an entry was last handed out, and the newest
        # one waiting with the timer that hands it out.
        self._last_sent: dict[tuple[str, Hashable], float] = {}
        self._held: dict[tuple[str, Hashable], tuple[Entry, asyncio.TimerHandle]] = {}
        # Per stream: the newest hand-out still waiting for its read-ahead; later ones follow it.
        self._delivering: dict[str, asyncio.Task[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        # Whether the last read of the streams succeeded; ``_turned`` is set, and replaced, when
        # that changes.
        self._readable = True
        self._turned = asyncio.Event()

    async def subscribe(
        self, streams: Mapping[str, StreamKind], accept: Accept | None = None, prepare: Prepare | None = None
    ) -> Mailbox:
        """A mailbox for every entry added to ``streams`` from now on (that ``accept`` keeps).

        ``prepare`` reads ahead, once for all mailboxes that name it, what their
        subscribers need for the entries they keep; entries are handed out after it.
        """
        mailbox = Mailbox(self, tuple(streams), self.capacity, accept, prepare)
        new = [stream for stream in streams if stream not in self._positions]
        ends: dict[str, str] = {}
        if new:
            pipe = self.redis.pipeline(transaction=False)
            for stream in new:
                pipe.xrevrange(stream, count=1)
            try:
                for stream, last in zip(new, await pipe.execute(), strict=True):
                    ends[stream] = _text(last[0][0]) if last else "0-0"
            except RedisError:
                # Stream ids are milliseconds: this one is "from now on". The subscriber
                # catches up from the database, as after any outage.
                now = f"{int(time.time() * 1000)}-0"
                ends = dict.fromkeys(new, now)
                mailbox.lose()
        for stream, kind in streams.items():
            if stream not in self._positions:
                self._positions[stream] = ends.get(stream, "0-0")
                self._kinds[stream] = kind
            self._mailboxes.setdefault(stream, set()).add(mailbox)
        self._start_reader()
        if new:
            await self._wake()
        return mailbox

    def leave(self, mailbox: Mailbox) -> None:
        for stream in mailbox.streams:
            boxes = self._mailboxes.get(stream)
            if boxes is None:
                continue
            boxes.discard(mailbox)
            if not boxes:
                del self._mailboxes[stream]
                self._positions.pop(stream, None)
                self._kinds.pop(stream, None)
                for slot in [slot for slot in self._held if slot[0] == stream]:
                    self._held.pop(slot)[1].cancel()

    async def readable_changes(self) -> AsyncIterator[bool]:
        """Whether the streams can be read now, then again each time that changes."""
        self._start_reader()
        told = None
        while True:
            turned = self._turned
            if self._readable != told:
                told = self._readable
                yield told
            await turned.wait()

    def _set_readable(self, readable: bool) -> None:
        if readable != self._readable:
            self._readable = readable
            self._turned.set()
            self._turned = asyncio.Event()

    @property
    def streams_read(self) -> int:
        return len(self._positions)

    async def close(self) -> None:
        self._closed = True
        for _, timer in self._held.values():
            timer.cancel()
        self._held.clear()
        for task in self._delivering.values():
            task.cancel()
        self._delivering.clear()
        if self._reader is not None:
            # redis-py may turn the cancellation of a blocking read into a connection
            # error; the flag ends the loop either way.
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            self._reader = None
        try:
            await self.redis.delete(self._wake_stream)
        except RedisError:
            pass

    def _start_reader(self) -> None:
        if self._closed:
            raise RuntimeError("the stream hub is closed")
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="stream-hub-reader")

    async def _wake(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(self._wake_stream, {"w": "1"}, maxlen=16, approximate=False)
        pipe.expire(self._wake_stream, 24 * 3600)
        try:
            await pipe.execute()
        except RedisError:
            pass  # the reader is failing too, and re-reads the streams when Redis is back

    async def _read_forever(self) -> None:
        failures = 0
        while not self._closed:
            streams = {**self._positions, self._wake_stream: self._wake_position}
            try:
                # After a failure the read does not block: it says at once that Redis is back.
                block = None if failures else self.block_ms
                replies = await self.redis.xread(streams, count=READ_BATCH, block=block)
            except (RedisError, OSError) as error:
                if self._closed:
                    return
                failures += 1
                if failures == 1:
                    log.warning("reading the event streams failed: %s; subscribers catch up from the database", error)
                self._set_readable(False)
                self._lose_all()
                await asyncio.sleep(min(2.0, 0.05 * 2**failures))
                continue
            self._set_readable(True)
            if failures:
                log.info("reading the event streams again after %s failures", failures)
                failures = 0
                self._lose_all()  # what was published while Redis was away is in the database
            for raw_stream, raw_entries in replies or ():
                self._dispatch(_text(raw_stream), raw_entries)

    def _dispatch(self, stream: str, raw_entries: list[Any]) -> None:
        last = _text(raw_entries[-1][0])
        if stream == self._wake_stream:
            self._wake_position = last
            return
        if stream not in self._positions:
            return  # nobody follows it any more
        self._positions[stream] = _later(self._positions[stream], last)
        if not self._mailboxes.get(stream):
            return
        kind = self._kinds[stream]
        entries = []
        for raw_id, fields in raw_entries:
            try:
                entries.append(Entry(stream, _text(raw_id), kind.decode(fields)))
            except Exception:  # one bad entry must not stop every subscriber
                log.exception("skipping an undecodable entry %s of %s", raw_id, stream)
        if kind.coalesce is not None:
            entries = self._coalesce(stream, kind.coalesce, entries)
        self._deliver(stream, entries)

    def _coalesce(self, stream: str, coalesce: Coalesce, entries: list[Entry]) -> list[Entry]:
        """The entries to hand out now; the others wait for their key's next turn, newest only."""
        now = time.monotonic()
        ready = []
        for entry in entries:
            key, may_wait = coalesce(entry.message)
            slot = (stream, key)
            held = self._held.pop(slot, None)
            if not may_wait:
                if held is not None:
                    held[1].cancel()  # superseded
                ready.append(entry)
                continue
            wait = self.coalesce_seconds - (now - self._last_sent.get(slot, -self.coalesce_seconds))
            if held is None and wait <= 0:
                self._last_sent[slot] = now
                ready.append(entry)
                continue
            timer = held[1] if held is not None else asyncio.get_running_loop().call_later(wait, self._release, slot)
            self._held[slot] = (entry, timer)
        if len(self._last_sent) > REMEMBERED_KEYS:
            self._last_sent = {
                slot: at for slot, at in self._last_sent.items() if now - at < self.coalesce_seconds
            }
        return ready

    def _release(self, slot: tuple[str, Hashable]) -> None:
        held = self._held.pop(slot, None)
        if held is not None:
            self._last_sent[slot] = time.monotonic()
            self._deliver(slot[0], [held[0]])

    def _deliver(self, stream: str, entries: list[Entry]) -> None:
        """Hand ``entries`` to the stream's mailboxes, after their read-ahead, in stream order."""
        deliveries = [(box, box.keep(entries)) for box in self._mailboxes.get(stream, ())]
        deliveries = [(box, kept) for box, kept in deliveries if kept]
        if not deliveries:
            return
        wanted: dict[Prepare, dict[str, Entry]] = {}
        for box, kept in deliveries:
            if box.prepare is not None:
                wanted.setdefault(box.prepare, {}).update((entry.id, entry) for entry in kept)
        previous = self._delivering.get(stream)
        if previous is None and not wanted:
            _hand_out(deliveries)
            return
        task = asyncio.ensure_future(self._prepare_and_hand_out(deliveries, wanted, previous))
        self._delivering[stream] = task
        task.add_done_callback(partial(self._delivered, stream))

    async def _prepare_and_hand_out(
        self,
        deliveries: list[tuple[Mailbox, list[Entry]]],
        wanted: dict[Prepare, dict[str, Entry]],
        previous: asyncio.Task[None] | None,
    ) -> None:
        reads = [prepare(self, list(kept.values())) for prepare, kept in wanted.items()]
        for outcome in await asyncio.gather(
            *(asyncio.wait_for(read, PREPARE_SECONDS) for read in reads), return_exceptions=True
        ):
            if isinstance(outcome, Exception):
                # The subscribers read for themselves, and meet the failure there.
                log.warning("reading ahead for subscribers failed: %r", outcome)
        if previous is not None:
            await asyncio.wait({previous})
        _hand_out([(box, kept) for box, kept in deliveries if not box.closed])

    def _delivered(self, stream: str, task: asyncio.Task[None]) -> None:
        if self._delivering.get(stream) is task:
            del self._delivering[stream]

    def _lose_all(self) -> None:
        for boxes in self._mailboxes.values():
            for box in boxes:
                box.lose()


def _hand_out(deliveries: list[tuple[Mailbox, list[Entry]]]) -> None:
    now = utcnow()
    for box, kept in deliveries:
        box.put(kept, now)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _later(a: str, b: str) -> str:
    def parts(stream_id: str) -> tuple[int, int]:
        ms, _, seq = stream_id.partition("-")
        return int(ms), int(seq or 0)

    return a if parts(a) >= parts(b) else b


_hubs: dict[int, tuple[Redis, StreamHub]] = {}


def hub_for(redis: Redis) -> StreamHub:
    """The process's one hub for the Redis client ``redis``."""
    found = _hubs.get(id(redis))
    if found is None or found[0] is not redis:
        found = _hubs[id(redis)] = (redis, StreamHub(redis))
    return found[1]


async def close_hub(redis: Redis) -> None:
    """Stop reading for ``redis``'s subscribers (before the client closes)."""
    found = _hubs.pop(id(redis), None)
    if found is not None:
        await found[1].close()


# ---------------------------------------------------------------- the streams Jobtower writes

# A tenant's job events (``keys.tenant_events``). Progress is not held back to be
# coalesced: it would arrive late. A subscriber that falls behind keeps only the newest
# progress it has waiting.
JOB_EVENTS = StreamKind(JobEventMessage.decode)
# A job's log flushes (``keys.job_logs``): one wake-up a turn is enough, the subscriber
# reads everything new. Flushes coalesce with those of the same levels only, so a
# subscriber that shows some levels is still woken by the newest flush that has them.
LOG_FLUSHES = StreamKind(LogsWritten.decode, coalesce=lambda flush: (flush.levels, True))
# A bulk operation's advances (``keys.bulk_operation_updates``): the subscriber reads the
# operation again, so the newest prompt of a turn is enough; the one that ends it goes at once.
BULK_UPDATES = StreamKind(
    BulkOperationAdvanced.decode,
    coalesce=lambda advanced: (None, BulkOperationStatus(advanced.status) in BULK_OPEN),
)
