"""While a heavy answer is made, the garbage collector's passes stay small: a pass over the older
generations would walk the whole answer, and every other client of the process would wait for it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from domain.access import Role
from tests.gql.support import TenantApi
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
