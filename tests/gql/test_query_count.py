"""The console's main query costs the same few SQL statements whatever the size of the tree (no N+1)."""

from __future__ import annotations

from domain.access import Role
from tests.gql.support import TenantApi, counting_statements
from tests.gql.trees import build_tree

CONSOLE_QUERY = """
query Console {
  jobs(first: 20) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id name status createdAt waitingSeconds durationSeconds hasErrors
      progress { total done succeeded failed percent estimated }
      childrenProgress { total done percent estimated }
      tenant { slug }
      runBy { name }
      parent { id }
      chunks(first: 5) {
        totalCount
        edges { node {
          index status progress { done total }
          records(first: 20) {
            edges { node { key status durationSeconds journey { name status durationSeconds } } }
          }
        } }
      }
    } }
  }
}
"""

# Authentication (the token with its principal, and a new token's first use), the job page, totalCount, tenants,
# principals, parents, children's progress, chunk pages and counts, record pages,
# and the rows behind the pages: a constant, whatever the tree's size.
MAX_STATEMENTS = 16


async def console_statements(tenant: TenantApi, jobs: int, chunks: int, records: int) -> list[str]:
    viewer = await tenant.as_(Role.VIEWER)
    operator = await tenant.as_(Role.OPERATOR)
    await build_tree(tenant.tenant.id, jobs=jobs, chunks=chunks, records=records, run_by_id=operator.principal.id)
    with counting_statements() as counter:
        data = await viewer.data(CONSOLE_QUERY)
    shown = data["jobs"]["edges"]
    assert data["jobs"]["totalCount"] == jobs
    assert len(shown) == jobs
    assert all(len(edge["node"]["chunks"]["edges"]) == chunks for edge in shown)
    assert all(
        len(chunk["node"]["records"]["edges"]) == records for edge in shown for chunk in edge["node"]["chunks"]["edges"]
    )
    journey = shown[0]["node"]["chunks"]["edges"][0]["node"]["records"]["edges"][0]["node"]["journey"]
    assert [(step["name"], step["status"]) for step in journey] == [("prepare", "SUCCEEDED"), ("send", "SUCCEEDED")]
    assert {edge["node"]["runBy"]["name"] for edge in shown} == {operator.principal.name}
    return counter.statements


async def test_the_consoles_main_query_makes_the_same_few_statements_for_a_small_and_a_large_tree(tenant_api):
    small = await console_statements(await tenant_api(), jobs=5, chunks=2, records=3)
    large = await console_statements(await tenant_api(), jobs=20, chunks=5, records=20)

    assert len(large) == len(small), "\n".join(large)
    assert len(large) <= MAX_STATEMENTS, "\n".join(large)
