"""While a heavy answer is made, the garbage collector's passes stay small, and once it is written
it is freed a slice at a time: a pass over the older generations would walk the whole answer, and
freeing it at once takes as long, and every other client of the process would wait for either."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from domain.access import Role
from gql.pacing import let_go
from tests.gql.support import TenantApi, turns_of_another_client
from tests.gql.trees import build_tree

# 20 jobs of 100 records with their journeys: a heavy operation (gql.pacing) that the cost limit
# accepts with the longest journeys of any job type; while it is made, it and its execution are
# tens of thousands of tracked objects.
JOBS, RECORDS = 20, 100
HEAVY = (
    "{ jobs(first: 20) { edges { node { id records(first: 100) { edges { node { key status"
    " journey { name status startedAt durationSeconds } } } } } } } }"
)
# What a pass may walk when it does not walk the answer: the objects of the requests around it.
MOST_WALKED = 30_000


@contextmanager
def older_passes() -> Iterator[list[int]]:
    """For each pass of the older generations meanwhile: how many objects it walked. What exists
    before is frozen out of the passes, as an API process does once it has started."""
    walked: list[int] = []

    def observe(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] >= 1:
            walked.append(sum(len(gc.get_objects(generation)) for generation in range(info["generation"] + 1)))

    gc.collect()
    gc.freeze()
    gc.callbacks.append(observe)
    try:
        yield walked
    finally:
        gc.callbacks.remove(observe)
        gc.unfreeze()


def records_in(answer: dict) -> int:
    return sum(len(job["node"]["records"]["edges"]) for job in answer["data"]["jobs"]["edges"])


async def test_no_pass_walks_a_heavy_answer_while_it_is_made(acme_api: TenantApi):
    await build_tree(acme_api.tenant.id, jobs=JOBS, chunks=1, records=RECORDS)
    viewer = await acme_api.as_(Role.VIEWER)
    thresholds = gc.get_threshold()

    with older_passes() as walked:
        for _ in range(3):
            response = await viewer.post(HEAVY)
            # Counted without keeping the test's own copy of the answer for the next one.
            assert records_in(response.json()) == JOBS * RECORDS, response.text[:300]

    assert walked, "the answers made no garbage for a middle pass to look at"
    assert max(walked) < MOST_WALKED, sorted(walked)[-5:]
    # Once no heavy answer is being made, the collector runs as it did before.
    assert gc.get_threshold() == thresholds


class Leaf:
    """A value of an answer that tells when it is freed."""


def answer_of(leaves: list[Leaf], shared: dict) -> dict:
    return {"jobs": [{"node": {"value": leaf, "params": shared}} for leaf in leaves]}


async def test_an_answer_is_let_go_of_over_several_turns_and_a_value_it_shares_is_left_as_it_was():
    shared = {"properties": {"records": {"type": "integer"}}, "oneOf": [{"required": ["records"]}]}
    leaves = [Leaf() for _ in range(100_000)]
    freed = [weakref.ref(leaf) for leaf in leaves]

    async with turns_of_another_client() as turns:
        await let_go(answer_of(leaves, shared))
        del leaves

    assert turns[0] > 1
    assert all(ref() is None for ref in freed)
    assert shared == {"properties": {"records": {"type": "integer"}}, "oneOf": [{"required": ["records"]}]}
