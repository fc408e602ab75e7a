"""A bound on how many items one query may ask for.

Every connection caps its page (``first`` ≤ 100), but nesting multiplies:
``jobs(first: 100) { chunks(first: 100) { records(first: 100) } }`` could ask
for a million records. Before execution, each paged field counts as its page
size times what it holds, and the operation is refused when the total passes
the limit. Lists without a page fan out too: a record's journey holds as many
steps as the job type with the most steps plans, and every other such list
counts as the most it can hold (``LIST_SIZES``), so 10,000 records with their
journeys count their steps as well, not as 10,000 items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
)
from strawberry.extensions import SchemaExtension

from domain.listing import DEFAULT_PAGE, MAX_PAGE
from domain.liveops import LISTED_JOBS
from domain.registry import registry
from domain.statistics import MAX_BUCKETS
from domain.statuses import JobStatus
from gql.errors import OWN_CODE
from gql.pacing import note_cost

PAGE_ARGUMENT = "first"
# A connection's edges are its page, already counted by the paged field that holds them.
EDGES = "edges"


def _most_steps() -> int:
    return max((len(job_type.steps) for job_type in registry.all()), default=1)


# The most items each list without a page argument holds, by (type, field); read per operation,
# as the registered job types decide some of them.
LIST_SIZES: dict[tuple[str, str], Callable[[], int]] = {
    ("Record", "journey"): _most_steps,
    ("JobType", "steps"): _most_steps,
    ("JobType", "allowedChunkSizes"): lambda: max(
        (len(job_type.allowed_chunk_sizes) for job_type in registry.all()), default=1
    ),
    ("Query", "jobTypes"): lambda: len(registry.all()),
    ("JobEvent", "changes"): lambda: 32,  # the fields an event can name: a few of Job's
    ("JobStatistics", "buckets"): lambda: MAX_BUCKETS,
    ("LiveOpsSummary", "counts"): lambda: len(JobStatus),
    ("LiveOpsSummary", "stalledJobs"): lambda: LISTED_JOBS,
    ("LiveOpsSummary", "failedJobsLast24h"): lambda: LISTED_JOBS,
    # A tenant's schedules, and the tenants a PLATFORM token sees, are rows of the admins' own
    # making: counted at a nominal size so that what nests in them multiplies.
    ("Query", "schedules"): lambda: 100,
    ("Query", "tenants"): lambda: 100,
}


class ListSizeLimiter(SchemaExtension):
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items

    def on_operation(self) -> Iterator[None]:
        execution_context = self.execution_context
        variables = dict(execution_context.variables or {})
        max_items = self.max_items

        class ListSizeRule(ValidationRule):
            def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
                root = self.context.schema.get_root_type(node.operation)
                defaults = {
                    definition.variable.name.value: definition.default_value
                    for definition in node.variable_definitions or ()
                }
                sizes = {field: size() for field, size in LIST_SIZES.items()}
                cost = _items(
                    self.context, node.selection_set, root, {**_literal_defaults(defaults), **variables}, sizes, set()
                )
                note_cost(execution_context, cost)
                if cost > max_items:
                    self.report_error(
                        GraphQLError(
                            f"This query could return up to {cost} items (page sizes multiply when lists"
                            f" nest); the limit is {max_items}. Ask for smaller pages.",
                            node,
                            extensions={OWN_CODE: "QUERY_TOO_LARGE", "items": cost, "limit": max_items},
                        )
                    )

        self.execution_context.validation_rules = (*self.execution_context.validation_rules, ListSizeRule)
        yield


def _literal_defaults(defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {name: int(value.value) for name, value in defaults.items() if isinstance(value, IntValueNode)}


Sizes = Mapping[tuple[str, str], int]


def _items(
    context: Any, selections: SelectionSetNode | None, parent: Any, variables: Mapping[str, Any], sizes: Sizes, seen: set[str]
) -> int:
    if selections is None or parent is None:
        return 0
    total = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            total += _field_items(context, selection, parent, variables, sizes, seen)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = context.schema.get_type(condition.name.value) if condition else parent
            total += _items(context, selection.selection_set, target, variables, sizes, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is None or name in seen:
                continue  # other rules report unknown and cyclic fragments
            target = context.schema.get_type(fragment.type_condition.name.value)
            total += _items(context, fragment.selection_set, target, variables, sizes, seen | {name})
    return total


def _field_items(
    context: Any, node: FieldNode, parent: Any, variables: Mapping[str, Any], sizes: Sizes, seen: set[str]
) -> int:
    if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
        return 0
    name = node.name.value
    definition = parent.fields.get(name)
    if definition is None:
        return 0
    inner = _items(context, node.selection_set, get_named_type(definition.type), variables, sizes, seen)
    if PAGE_ARGUMENT in definition.args:
        return _page_size(node, variables) * (1 + inner)
    if name == EDGES or not isinstance(get_nullable_type(definition.type), GraphQLList):
        return inner
    # A list missing from LIST_SIZES fails here, and in the test that checks the table against the schema.
    return sizes[parent.name, name] * (1 + inner)


def _page_size(node: FieldNode, variables: Mapping[str, Any]) -> int:
    for argument in node.arguments or ():
        if argument.name.value != PAGE_ARGUMENT:
            continue
        value: Any = None
        if isinstance(argument.value, IntValueNode):
            value = int(argument.value.value)
        elif isinstance(argument.value, VariableNode):
            value = variables.get(argument.value.name.value)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(0, min(value, MAX_PAGE))  # past the cap the field refuses on its own
        return DEFAULT_PAGE
    return DEFAULT_PAGE
