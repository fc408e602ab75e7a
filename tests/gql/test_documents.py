"""A document a client sends again and again is parsed and validated once: its requests leave
the garbage collector little to do, so its passes do not stop the other requests of the
process; and what the kept verdict answers is what a fresh validation answers."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from domain.access import Role
from gql.complexity import LIST_SIZES
from gql.schema import MAX_LIST_ITEMS
from tests.gql.support import TenantApi

PROBE = "{ viewer { name } }"
JOURNEYS = (
    "query Journeys($jobs: Int) { jobs(first: $jobs) { edges { node { chunks(first: 100) { edges { node {"
    " records(first: 100) { edges { node { journey { name } } } } } } } } } } }"
)
# Objects in reference cycles one request may leave behind: its execution's context and the
# request's own. Parsing and validating it afresh left about 500 more.
MOST_CYCLIC_GARBAGE = 200


@contextmanager
def cyclic_garbage() -> Iterator[list[int]]:
    """How many objects the collector found unreachable (only it frees them) meanwhile."""
    found = [0]
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        found[0] = len(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_a_document_sent_again_leaves_little_for_the_garbage_collector(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    await viewer.post(PROBE)
    requests = 20

    with cyclic_garbage() as found:
        for _ in range(requests):
            response = await viewer.post(PROBE)
            assert response.json() == {"data": {"viewer": {"name": viewer.principal.name}}}

    assert found[0] / requests < MOST_CYCLIC_GARBAGE


async def test_the_kept_verdict_counts_each_requests_variables(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)
    per_record = 1 + LIST_SIZES["Record", "journey"]()  # the record and the longest journey's steps
    per_job = 1 + 100 * (1 + 100 * per_record)
    fits = MAX_LIST_ITEMS // per_job

    for _ in range(2):
        small = await viewer.post(JOURNEYS, {"jobs": fits})
        large = await viewer.post(JOURNEYS, {"jobs": fits + 1})
        assert small.status_code == 200, small.text
        assert large.status_code == 400
        assert large.json()["errors"][0]["extensions"]["jobtowerCode"] == "QUERY_TOO_LARGE"


async def test_a_document_that_fails_validation_fails_it_each_time(acme_api: TenantApi):
    viewer = await acme_api.as_(Role.VIEWER)

    answers = [(await viewer.post("{ viewer { nope } }")).json() for _ in range(3)]

    assert answers[0] == answers[1] == answers[2]
    assert "Cannot query field 'nope'" in answers[0]["errors"][0]["message"]
    assert answers[0]["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
