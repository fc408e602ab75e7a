"""A bound on how many items one query may ask for.

Every connection caps its page (``first`` ≤ 100), but nesting multiplies:
``jobs(first: 100) { chunks(first: 100) { records(first: 100) } }`` could ask
for a million records. Before execution, each paged field counts as its page
size times what it holds, and the operation is refused when the total passes
the limit. The console's main query (50 jobs × 10 chunks × 20 records) costs
about 10,500.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

from domain.listing import DEFAULT_PAGE, MAX_PAGE
from gql.errors import OWN_CODE

PAGE_ARGUMENT = "first"


class ListSizeLimiter(SchemaExtension):
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items

    def on_operation(self) -> Iterator[None]:
        variables = dict(self.execution_context.variables or {})
        max_items = self.max_items

        class ListSizeRule(ValidationRule):
            def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
                root = self.context.schema.get_root_type(node.operation)
                defaults = {
                    definition.variable.name.value: definition.default_value
                    for definition in node.variable_definitions or ()
                }
                cost = _items(self.context, node.selection_set, root, {**_literal_defaults(defaults), **variables}, set())
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


def _items(context: Any, selections: SelectionSetNode | None, parent: Any, variables: Mapping[str, Any], seen: set[str]) -> int:
    if selections is None or parent is None:
        return 0
    total = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            total += _field_items(context, selection, parent, variables, seen)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = context.schema.get_type(condition.name.value) if condition else parent
            total += _items(context, selection.selection_set, target, variables, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is None or name in seen:
                continue  # other rules report unknown and cyclic fragments
            target = context.schema.get_type(fragment.type_condition.name.value)
            total += _items(context, fragment.selection_set, target, variables, seen | {name})
    return total


def _field_items(context: Any, node: FieldNode, parent: Any, variables: Mapping[str, Any], seen: set[str]) -> int:
    if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
        return 0
    definition = parent.fields.get(node.name.value)
    if definition is None:
        return 0
    inner = _items(context, node.selection_set, get_named_type(definition.type), variables, seen)
    if PAGE_ARGUMENT not in definition.args:
        return inner
    return _page_size(node, variables) * (1 + inner)


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
