"""Property-based fuzzing of the served API: queries and mutations generated from
``schema.graphql`` (hypothesis-graphql), sent over real HTTP as a tenant's ADMIN. Whatever the
document asks, the answer is never a server error: no HTTP 5xx, no ``INTERNAL_SERVER_ERROR``.

Bounded to ``EXAMPLES`` documents of each kind so that it runs in well under a minute; a
failure prints the document that broke the API, to become a test of its own where it is fixed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from domain.access import Role
from tests.domain.scenarios import start
from tests.gql.conftest import ServedApi
from tests.gql.support import TenantApi, gid

SCHEMA = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
EXAMPLES = 100


def moments() -> st.SearchStrategy[str]:
    """Moments anywhere in the calendar, at any offset or none, and text that is no moment."""
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timedelta(minutes=minutes))
    aware = st.tuples(st.datetimes(), offsets).map(lambda pair: pair[0].isoformat() + offset_text(pair[1]))
    # The calendar's ends, where an offset or a range's arithmetic leaves it.
    ends = st.sampled_from(["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59-01:00"])
    return st.one_of(ends, aware, st.datetimes().map(datetime.isoformat), st.text(max_size=40))


def offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
# Any JSON value a params or payload field could be sent, as a literal.
JSON_LITERALS = st.recursive(
    st.one_of(
        st.just(nodes.Null),
        st.booleans().map(nodes.Boolean),
        st.integers().map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        st.text(max_size=20).map(nodes.String),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(nodes.List),
        st.dictionaries(NAMES, children, max_size=4).map(
            lambda fields: nodes.Object(
                [graphql.ObjectFieldNode(name=graphql.NameNode(value=name), value=value) for name, value in fields.items()]
            )
        ),
    ),
    max_leaves=12,
)


@pytest.fixture
async def admin(served_http: httpx.AsyncClient, make_tenant) -> tuple[str, list[str]]:
    """An ADMIN token, and ids worth trying: the tenant's, a job of its own, one that does not exist."""
    tenant = TenantApi(served_http, (await make_tenant()).tenant)
    api = await tenant.as_(Role.ADMIN)
    job = await start(api.actor, name="fuzzed")
    return api.token, [gid("Job", job.id), gid("Tenant", tenant.tenant.id), gid("Job", job.id + 10_000_000)]


def documents(kind: str, ids: list[str]) -> st.SearchStrategy[str]:
    scalars = {
        "DateTime": moments().map(nodes.String),
        "JSON": JSON_LITERALS,
        "ID": st.one_of(st.sampled_from(ids), st.text(max_size=30)).map(nodes.String),
    }
    return (queries if kind == "query" else mutations)(SCHEMA, custom_scalars=scalars)


@pytest.mark.parametrize("kind", ["query", "mutation"])
def test_no_generated_document_is_a_server_error(served_api: ServedApi, admin: tuple[str, list[str]], kind: str):
    token, ids = admin

    with httpx.Client(base_url=served_api.url, timeout=30, headers={"authorization": f"Bearer {token}"}) as http:

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
        @given(document=documents(kind, ids))
        def answers_without_a_server_error(document: str) -> None:
            response = http.post("/graphql", json={"query": document})
            assert response.status_code < 500, f"{response.status_code} for\n{document}\n{response.text[:2000]}"
            codes = [error.get("extensions", {}).get("code") for error in response.json().get("errors", [])]
            assert "INTERNAL_SERVER_ERROR" not in codes, f"{document}\n{response.text[:2000]}"

        answers_without_a_server_error()
