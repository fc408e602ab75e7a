"""The schema, composed from the features. ``schema.graphql`` is generated from it."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from gql.extensions import ErrorPolicy
from gql.jobs.mutations import JobMutations
from gql.jobs.queries import JobQueries
from gql.nodes import NodeQueries
from gql.tenants.queries import TenantQueries

MAX_DEPTH = 12
MAX_TOKENS = 5_000
MAX_ALIASES = 30


@strawberry.type
class Query(NodeQueries, JobQueries, TenantQueries):
    pass


@strawberry.type
class Mutation(JobMutations):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        ErrorPolicy,
        QueryDepthLimiter(max_depth=MAX_DEPTH),
        MaxTokensLimiter(max_token_count=MAX_TOKENS),
        MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
    ],
)
