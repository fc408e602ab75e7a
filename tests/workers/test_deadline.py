"""A step attempt's deadline behaves as ``asyncio.timeout`` does, whether the step waits or not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import pytest

from workers.deadline import Deadline


async def attempt(deadline: Deadline, step: Awaitable[None]) -> None:
    """As the runner makes an attempt."""
    if (rest := deadline.start(step)) is not None:
        await rest


async def test_a_step_that_never_waits_is_done_at_once():
    done: list[int] = []

    async def compute() -> None:
        done.append(42)

    deadline = Deadline(0.01)
    assert deadline.start(compute()) is None
    assert done == [42]
    assert not deadline.expired()


async def test_a_step_that_waits_within_its_deadline_runs_to_its_end():
    steps: list[str] = []

    async def fetch() -> None:
        await asyncio.sleep(0.01)
        steps.append("fetched")
        await asyncio.sleep(0)
        steps.append("stored")

    deadline = Deadline(5)
    await attempt(deadline, fetch())
    assert steps == ["fetched", "stored"]
    assert not deadline.expired()


async def test_a_step_that_waits_past_its_deadline_is_cancelled_and_times_out():
    cleaned_up = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            cleaned_up.set()

    deadline = Deadline(0.05)
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await attempt(deadline, hang())
    assert time.monotonic() - began < 5
    assert deadline.expired()
    assert cleaned_up.is_set()


async def test_the_deadline_counts_from_the_start_of_the_attempt_not_from_its_first_wait():
    async def busy_then_wait() -> None:
        time.sleep(0.2)  # work that holds the loop before the step's first wait
        await asyncio.sleep(0.5)

    deadline = Deadline(0.25)
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await attempt(deadline, busy_then_wait())
    assert time.monotonic() - began < 0.45
    assert deadline.expired()


async def test_a_steps_own_errors_keep_their_type_before_and_after_a_wait():
    async def refuses_at_once() -> None:
        raise ValueError("bad input")

    async def refuses_later() -> None:
        await asyncio.sleep(0)
        raise TimeoutError("the remote service timed out")

    first = Deadline(5)
    with pytest.raises(ValueError, match="bad input"):
        await attempt(first, refuses_at_once())
    later = Deadline(5)
    with pytest.raises(TimeoutError, match="remote service"):
        await attempt(later, refuses_later())
    assert not first.expired() and not later.expired()


async def test_cancelling_the_attempt_reaches_the_waiting_step_and_is_not_a_timeout():
    reached = asyncio.Event()
    cancelled = asyncio.Event()

    async def wait_forever() -> None:
        reached.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    deadline = Deadline(60)
    waiting = asyncio.create_task(attempt(deadline, wait_forever()))
    await reached.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert cancelled.is_set()
    assert not deadline.expired()


async def test_a_step_that_catches_the_cancel_and_waits_again_finishes_its_cleanup():
    steps: list[str] = []

    async def careful() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            steps.append("cancelled")
            await asyncio.sleep(0.01)  # its cleanup waits too
            steps.append("cleaned up")
            raise

    deadline = Deadline(0.05)
    with pytest.raises(TimeoutError):
        await attempt(deadline, careful())
    assert steps == ["cancelled", "cleaned up"]
