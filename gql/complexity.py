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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)

from domain.listing import DEFAULT_PAGE, MAX_PAGE
from domain.liveops import LISTED_JOBS
from domain.registry import registry
from domain.statistics import MAX_BUCKETS
from domain.statuses import JobStatus
from gql.errors import OWN_CODE

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


def too_many_items(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any], max_items: int
) -> tuple[int, GraphQLError | None]:
    """The most items the document's operations could return with these variables, and the
    refusal when that passes ``max_items``. For a valid document: validation comes first."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    sizes = {field: size() for field, size in LIST_SIZES.items()}
    cost = 0
    for node in document.definitions:
        if not isinstance(node, OperationDefinitionNode):
            continue
        defaults = {
            definition.variable.name.value: definition.default_value
            for definition in node.variable_definitions or ()
        }
        count = _Count(schema, fragments, {**_literal_defaults(defaults), **variables}, sizes)
        cost = count.items(node.selection_set, schema.get_root_type(node.operation), set())
        if cost > max_items:
            return cost, GraphQLError(
                f"This query could return up to {cost} items (page sizes multiply when lists"
                f" nest); the limit is {max_items}. Ask for smaller pages.",
                node,
                extensions={OWN_CODE: "QUERY_TOO_LARGE", "items": cost, "limit": max_items},
            )
    return cost, None


def _literal_defaults(defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {name: int(value.value) for name, value in defaults.items() if isinstance(value, IntValueNode)}


Sizes = Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class _Count:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    sizes: Sizes

    def items(self, selections: SelectionSetNode | None, parent: Any, seen: set[str]) -> int:
        if selections is None or parent is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self.field_items(selection, parent, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.items(selection.selection_set, target, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue  # validation refuses unknown and cyclic fragments
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.items(fragment.selection_set, target, seen | {name})
        return total

    def field_items(self, node: FieldNode, parent: Any, seen: set[str]) -> int:
        if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return 0
        name = node.name.value
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        inner = self.items(node.selection_set, get_named_type(definition.type), seen)
        if PAGE_ARGUMENT in definition.args:
            return _page_size(node, self.variables) * (1 + inner)
        if name == EDGES or not isinstance(get_nullable_type(definition.type), GraphQLList):
            return inner
        # A list missing from LIST_SIZES fails here, and in the test that checks the table against the schema.
        return self.sizes[parent.name, name] * (1 + inner)


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
