"""A step attempt's timeout that costs nothing when the step does not wait.

``asyncio.timeout`` arms a timer on the loop for every attempt and cancels it after: for
steps that finish without ever waiting (a computation, a lookup in memory), that was over a
quarter of a worker's time per record. ``Deadline.start`` takes the awaitable's first step
by hand; only if it stops to wait for something is the rest awaited under
``asyncio.timeout_at``, with the deadline counted from the attempt's start. Its behaviour is
the same: a step that never waits cannot be interrupted by a timeout in either case.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Generator, Iterator
from typing import Any


class Deadline:
    """One attempt's ``seconds``, and whether they ran out."""

    __slots__ = ("_seconds", "_timeout")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._timeout: asyncio.Timeout | None = None

    def start(self, awaitable: Awaitable[None]) -> Awaitable[None] | None:
        """Take ``awaitable``'s first step: None if that finished it, else the rest of it to
        await, which raises ``TimeoutError`` once it has waited past the deadline. What the
        first step raises, it raises."""
        began = time.monotonic()
        steps = awaitable.__await__()
        try:
            waits_on = steps.send(None)
        except StopIteration:
            return None
        return self._rest(_Resumed(steps, waits_on), began)

    async def _rest(self, rest: _Resumed, began: float) -> None:
        left = self._seconds - (time.monotonic() - began)
        self._timeout = asyncio.timeout_at(asyncio.get_running_loop().time() + left)
        async with self._timeout:
            await rest

    def expired(self) -> bool:
        return self._timeout is not None and self._timeout.expired()


class _Resumed:
    """The rest of an awaitable whose first step was taken: awaiting it goes on as ``yield
    from`` would have (PEP 380), from what that step yielded to the task."""

    __slots__ = ("_steps", "_waits_on")

    def __init__(self, steps: Iterator[Any], waits_on: Any) -> None:
        self._steps = steps
        self._waits_on = waits_on

    def __await__(self) -> Generator[Any, Any, Any]:
        steps: Any = self._steps
        waits_on = self._waits_on
        while True:
            try:
                sent = yield waits_on
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as error:  # a cancel, or anything thrown into the task
                try:
                    waits_on = steps.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waits_on = steps.send(sent)
                except StopIteration as done:
                    return done.value
