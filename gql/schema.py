"""The schema, composed from the features. ``schema.graphql`` is generated from it."""

from __future__ import annotations

from functools import cache, partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gql.bulk.mutations import BulkMutations
from gql.bulk.queries import BulkQueries
from gql.bulk.subscriptions import BulkSubscriptions
from gql.complexity import ListSizeLimiter
from gql.extensions import PublicErrors, log_unexpected
from gql.pacing import PacedExecution
from gql.fanout import SharedEventExecution
from gql.jobs.mutations import JobMutations
from gql.jobs.queries import JobQueries
from gql.jobs.subscriptions import JobSubscriptions
from gql.logs.subscriptions import LogSubscriptions
from gql.ops.subscriptions import OpsSubscriptions
from gql.nodes import NodeQueries
from gql.ops.queries import OpsQueries
from gql.schedules.mutations import ScheduleMutations
from gql.scalars import SCALARS
from gql.schedules.queries import ScheduleQueries
from gql.tenants.mutations import TenantMutations
from gql.tenants.queries import TenantQueries
from jobtower.settings import settings

MAX_DEPTH = 12
MAX_TOKENS = 5_000
MAX_ALIASES = 30
# Items one query may ask for across nested pages (see gql.complexity).
MAX_LIST_ITEMS = 50_000


@strawberry.type
class Query(NodeQueries, JobQueries, OpsQueries, ScheduleQueries, TenantQueries, BulkQueries):
    pass


@strawberry.type
class Mutation(JobMutations, ScheduleMutations, TenantMutations, BulkMutations):
    pass


@strawberry.type
class Subscription(JobSubscriptions, LogSubscriptions, OpsSubscriptions, BulkSubscriptions):
    pass


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Strawberry logs every error here, refusals too, before extensions change them.
        log_unexpected(errors)


@cache
def schema_for(fast_execution: bool) -> Schema:
    """The schema, executed by gql.fanout's SharedEventExecution (and gql.execution's shortcuts)
    or, with ``fast_execution`` off, by Strawberry's own execution context."""
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        # Factories, not instances: each request gets its own extension objects.
        extensions=[
            PublicErrors,
            partial(QueryDepthLimiter, max_depth=MAX_DEPTH),
            partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
            partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
            partial(ListSizeLimiter, max_items=MAX_LIST_ITEMS),
            PacedExecution,
        ],
        execution_context_class=SharedEventExecution if fast_execution else None,
    )


schema = schema_for(settings.graphql_fast_execution)
