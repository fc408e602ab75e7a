"""Heavy queries share the event loop instead of holding it.

An API process is one event loop, and graphql-core completes whatever a
resolver returned in one go: when the one statement that reads the records of
100 jobs returns, the 100 waiting ``records`` fields wake in the same turn of the
loop and complete their subtrees, journeys included, one after another (seconds of work for the
heaviest query the cost limit accepts), while every other request, another
tenant's ``{ viewer { name } }`` too, waits for the turn to end. Two bounds:

- **Slices.** Once a request has used about ``SLICE_SECONDS`` of a turn of the
  loop (``behind``), what it still has to complete waits for later turns, one
  waiting part a slice, in the order they asked. In a heavy operation, a part is
  each page that arrived with the pages of other parents (``pace_page``: the
  records of each of 100 jobs); in any operation, each record's journey
  (``pace``). Between two slices the other requests get ``TURNS_BETWEEN_SLICES``
  turns of the loop. One turn would not do: a light request needs a turn for each
  step of its own (a Redis reply, each statement, writing the answer), about
  twenty for ``{ viewer { name } }``, and each of them would wait a whole slice.
  Parts wait only after their statements ran: the pages' loaders batched all
  the parents first. What a paced page holds may load in a later turn than its
  siblings' (a record's ``chunk``): loads wait as long as parts of the request
  wait for their turns (``settled``), so the parts' loads still make one batch,
  one statement each.

- **One heavy operation at a time per process.** An operation whose cost (the
  items ``gql.complexity`` counts) passes ``HEAVY_ITEMS`` runs only while no
  other heavy one executes in this process; the others wait their turn (FIFO),
  light ones never do; over HTTP it keeps its turn until its answer is written. Slices bound
  how long one request holds a turn of the loop; this bounds how many requests do.

Writing the answer is sliced as well (gql.encoding), and so is freeing it (``let_go``); while a
heavy answer lives, the garbage collector's older generations wait (jobtower.collector).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar

from strawberry.extensions import SchemaExtension

from jobtower.collector import older_generations

# How long one request's fields may run in one turn of the event loop.
SLICE_SECONDS = 0.005
# How many turns of the loop the other requests get between two slices of one request.
TURNS_BETWEEN_SLICES = 8
# From this cost on (gql.complexity's items) an operation is heavy: the console's pages cost
# a few hundred to a few thousand.
HEAVY_ITEMS = 5_000


class Pacer:
    """Hands one request's fields the loop's turns, a slice of time each."""

    def __init__(self, heavy: bool) -> None:
        self.heavy = heavy
        self._granted_at: float | None = None
        self._waiting: deque[asyncio.Future[None]] = deque()
        # Whether the last part let go runs in this turn of the loop, and who waits for the
        # parts to be done.
        self._serving = False
        self._settled: asyncio.Future[None] | None = None

    def pacing(self) -> bool:
        """Whether parts of the request wait for their turns, or the last of them has this one."""
        return self._serving or bool(self._waiting)

    async def settled(self) -> None:
        """Until no part of the request waits for its turn."""
        if self._settled is None:
            self._settled = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._settled)

    def spent(self) -> bool:
        """Whether the request has used its slice of this turn (or others of its fields wait).
        The first to ask in a turn starts the slice."""
        if self._granted_at is None:
            self._grant()
            return False
        return bool(self._waiting) or time.monotonic() - self._granted_at > SLICE_SECONDS

    async def turn(self) -> None:
        if self._granted_at is None:
            self._grant()
            return
        if not self.spent():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        await waiter

    def _grant(self) -> None:
        self._granted_at = time.monotonic()
        _after_turns(TURNS_BETWEEN_SLICES, self._next_turn)

    def _next_turn(self) -> None:
        self._granted_at = None
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled request's field is gone
                self._grant()
                self._serving = True
                waiter.set_result(None)
                return
        self._serving = False
        if self._settled is not None:
            self._settled.set_result(None)
            self._settled = None


def _after_turns(turns: int, callback: Callable[[], None]) -> None:
    """Calls ``callback`` ``turns`` turns of the loop from now, after what became ready meanwhile."""
    loop = asyncio.get_running_loop()

    def hop(left: int) -> None:
        if left:
            loop.call_soon(hop, left - 1)
        else:
            callback()

    loop.call_soon(hop, turns - 1)


async def give_way() -> None:
    """Lets the other requests have ``TURNS_BETWEEN_SLICES`` turns of the loop: after a slice of
    work that is not paced by fields (writing or freeing an answer)."""
    for _ in range(TURNS_BETWEEN_SLICES):
        await asyncio.sleep(0)


_pacer: ContextVar[Pacer | None] = ContextVar("jobtower_pacer", default=None)


async def pace() -> None:
    """Wait, if the request has had its slice of this turn of the loop, for its next turn."""
    pacer = _pacer.get()
    if pacer is not None:
        await pacer.turn()


async def pace_page() -> None:
    """``pace``, in a heavy operation: a page that arrived with the pages of other parents."""
    pacer = _pacer.get()
    if pacer is not None and pacer.heavy:
        await pacer.turn()


def current_pacer() -> Pacer | None:
    """The pacer of the operation executing, if any."""
    return _pacer.get()


def behind() -> bool:
    """Whether the request has had its slice of this turn: a field that has work to do (many
    of them in a page) should then ``await pace()`` first, and return an awaitable."""
    pacer = _pacer.get()
    return pacer is not None and pacer.spent()


async def let_go(tree: object) -> None:
    """Drops the last reference to an answer's tree of dicts and lists, a slice of the loop at a
    time. Dropped at once, the heaviest answer's few hundred thousand containers are freed in one
    go, a hundred milliseconds and more in which nothing else runs. Here every container is held
    in a list, parents before their children, and let go in that order: each drop frees one
    container and its plain values, as its children are still held. Nothing is changed, so a
    value the answer shares with others (a JSON value some object holds) is only let go of."""
    held = [tree]
    del tree
    began = time.monotonic()
    position = 0
    while position < len(held):
        item = held[position]
        position += 1
        children = item.values() if type(item) is dict else item if type(item) is list else ()
        held.extend(child for child in children if type(child) is dict or type(child) is list)
        if time.monotonic() - began > SLICE_SECONDS:
            await give_way()
            began = time.monotonic()
    del item, children
    for position in range(len(held)):
        held[position] = None
        if position % 1000 == 0 and time.monotonic() - began > SLICE_SECONDS:
            await give_way()
            began = time.monotonic()


class _HeavyLane:
    """One heavy operation executes at a time in this process (per event loop)."""

    def __init__(self) -> None:
        self._lanes: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if loop not in self._lanes:
            self._lanes = {loop: asyncio.Lock()}  # a process runs one loop; tests start new ones
        return self._lanes[loop]


_heavy_lane = _HeavyLane()


@asynccontextmanager
async def _in_heavy_lane() -> AsyncIterator[None]:
    """The lane, and the collector's older generations held (jobtower.collector) while the
    operation's answer lives."""
    async with _heavy_lane.lock():
        with older_generations.held():
            yield


# The HTTP answer being made, if any: a heavy operation keeps the lane until it is written.
_answer: ContextVar[AsyncExitStack | None] = ContextVar("jobtower_answer", default=None)


@asynccontextmanager
async def answering() -> AsyncIterator[None]:
    """Around making one HTTP answer, encoding included: a heavy operation in it holds the lane
    until then, so its tree of results is gone when the next heavy one starts."""
    async with AsyncExitStack() as answer:
        token = _answer.set(answer)
        try:
            yield
        finally:
            _answer.reset(token)


class PacedExecution(SchemaExtension):
    """Executes each operation with a pacer of its own, and a heavy one in the heavy lane (until
    its HTTP answer is written, or for its execution elsewhere).
    ``gql.complexity`` reports the operation's cost through ``cost_of``."""

    async def on_execute(self) -> AsyncIterator[None]:
        heavy = cost_of(self.execution_context) >= HEAVY_ITEMS
        token = _pacer.set(Pacer(heavy))
        try:
            answer = _answer.get()
            if heavy and answer is not None:
                await answer.enter_async_context(_in_heavy_lane())
                yield
            elif heavy:
                async with _in_heavy_lane():
                    yield
            else:
                yield
        finally:
            _pacer.reset(token)


_COST = "jobtower_cost"


def note_cost(execution_context: object, cost: int) -> None:
    setattr(execution_context, _COST, cost)


def cost_of(execution_context: object) -> int:
    return getattr(execution_context, _COST, 0)
