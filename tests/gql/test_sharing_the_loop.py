"""A heavy operation shares its process's event loop: between two slices of its work, every
other client gets several turns of the loop. A light request needs a turn for each step of its
own (a Redis reply, a statement, writing its answer); with one turn a slice, each of its steps
waited a whole slice of the heavy one, and another tenant's ``{ viewer { name } }`` took 180 ms
instead of 10 (``bench.probe_under_attack``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from gql.pacing import Pacer, give_way

# The turns a light request needs, at the least, to be answered in a few slices of a heavy one.
SEVERAL = 4


async def turns_between(work: list[str], run: Awaitable[object]) -> list[int]:
    """How many turns another client had between two parts of ``run`` (each appends "part" to
    ``work``)."""
    async def other_client() -> None:
        while True:
            work.append("turn")
            await asyncio.sleep(0)

    other = asyncio.create_task(other_client())
    await asyncio.sleep(0)
    try:
        await run
    finally:
        other.cancel()
    counts, since = [], None
    for event in work:
        if event == "part":
            if since is not None:
                counts.append(since)
            since = 0
        elif since is not None:
            since += 1
    return counts


async def test_between_two_slices_of_a_paced_request_another_client_gets_several_turns():
    pacer, work = Pacer(heavy=True), []

    async def part() -> None:
        """A record's journey, say: waits for its turn, then uses its slice."""
        await pacer.turn()
        work.append("part")
        while not pacer.spent():
            pass

    counts = await turns_between(work, asyncio.gather(*(part() for _ in range(20))))

    assert len(counts) == 19
    assert min(counts) >= SEVERAL, counts


async def test_unpaced_work_gives_way_for_several_turns():
    work: list[str] = []

    async def parts() -> None:
        """Slices of writing or freeing an answer."""
        for _ in range(10):
            work.append("part")
            await give_way()

    counts = await turns_between(work, parts())

    assert len(counts) == 9
    assert min(counts) >= SEVERAL, counts
