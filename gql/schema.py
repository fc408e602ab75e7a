"""The schema, composed from the features. ``schema.graphql`` is generated from it."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from gql.bulk.mutations import BulkMutations
from gql.bulk.queries import BulkQueries
from gql.bulk.subscriptions import BulkSubscriptions
from gql.documents import CheckedDocuments
from gql.extensions import PublicErrors, log_unexpected
from gql.pacing import PacedExecution
from gql.timing import OperationTiming
from gql.fanout import SharedEventExecution
from gql.jobs.mutations import JobMutations
from gql.jobs.queries import JobQueries
from gql.jobs.subscriptions import JobSubscriptions
from gql.live.subscriptions import LiveSubscriptions
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
# The document rules beyond GraphQL's own, made once: the kept verdicts (gql.documents) tell
# rule sets apart by their classes, and these extensions make new classes for each instance.
DOCUMENT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


@strawberry.type
class Query(NodeQueries, JobQueries, OpsQueries, ScheduleQueries, TenantQueries, BulkQueries):
    pass


@strawberry.type
class Mutation(JobMutations, ScheduleMutations, TenantMutations, BulkMutations):
    pass


@strawberry.type
class Subscription(JobSubscriptions, LogSubscriptions, OpsSubscriptions, BulkSubscriptions, LiveSubscriptions):
    pass


class Schema(strawberry.Schema):
    async def execute(  # noqa: PLR0913, PLR0917 - Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # ``execute`` answers once; a subscription streams, over the WebSocket (``stream``). Left
        # in, Strawberry would run its resolver here and fail on the stream it returns.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES) - {OperationType.SUBSCRIPTION}
        return await super().execute(
            query, variable_values, context_value, root_value, operation_name, allowed, operation_extensions
        )

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
            OperationTiming,
            PublicErrors,
            partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
            partial(AddValidationRules, DOCUMENT_RULES),
            partial(CheckedDocuments, max_items=MAX_LIST_ITEMS),
            PacedExecution,
        ],
        execution_context_class=SharedEventExecution if fast_execution else None,
    )


schema = schema_for(settings.graphql_fast_execution)
