"""Field execution without graphql-core's per-field machinery where a field only reads an attribute.

The console's main query completes about 150,000 fields, most of them scalars
and enums that a Strawberry type holds as plain attributes (a record's key, a
step's status). For each, graphql-core builds a resolve info, looks for
arguments and calls Strawberry's default resolver, then completes the value
through the type wrappers: several times the cost of the work itself. For such
a field this executor does that work directly: read the attribute and coerce it
to its scalar or enum. Anything else (a null where one is not allowed, an error,
an awaitable, a field with arguments, a resolver middleware) takes the usual
path, which answers or reports it exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    Undefined,
    is_leaf_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter

# A plain leaf field: the attribute it reads, how to coerce its value, whether it may be null.
PlainLeaf = tuple[str, Callable[[Any], Any], bool]

# The response names and plain leaves of a selection whose fields are all such.
PlainSet = tuple[tuple[str, PlainLeaf], ...]

_plain_leaves: dict[tuple[GraphQLObjectType, str], PlainLeaf | None] = {}
# What a plain read gives when the field must take the usual path after all.
_USUAL = object()


class PlainFieldExecution(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # id(grouped field set) -> (that set, its plain leaves when all its fields are such).
        # graphql-core memoizes the sets per selection, so this holds one entry per selection.
        self._plain_sets: dict[int, tuple[Any, PlainSet | None]] = {}

    def complete_list_value(
        self,
        return_type: GraphQLList[Any],
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        """A list of objects whose selected fields are all plain leaves (a record's steps)
        becomes its list of dicts here, without completing each item through the type wrappers."""
        item_type = return_type.of_type
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if type(result) is list and isinstance(object_type, GraphQLObjectType):
            grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
            leaves = self._plain_set(object_type, grouped_field_set)
            if leaves is not None and not new_defer_usages and self.get_stream_usage(field_details_list, path) is None:
                is_type_of = object_type.is_type_of
                completed = []
                for item in result:
                    fields = None if item is None or (is_type_of and is_type_of(item, info) is not True) else (
                        self._read_plain(leaves, item)
                    )
                    if fields is None:
                        break
                    completed.append(fields)
                else:
                    return completed
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """An object whose selected fields are all plain leaves becomes its dict here,
        without a path or a call per field."""
        leaves = self._plain_set(parent_type, grouped_field_set)
        if leaves is not None:
            fields = self._read_plain(leaves, source_value)
            if fields is not None:
                return fields
        return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)

    def _plain_set(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> PlainSet | None:
        """The plain leaves of a selection if all its fields are such, and no middleware runs."""
        known = self._plain_sets.get(id(grouped_field_set))
        if known is None or known[0] is not grouped_field_set:
            known = self._plain_sets[id(grouped_field_set)] = (
                grouped_field_set, _all_plain(parent_type, grouped_field_set)
            )
        return None if self.middleware_manager.middlewares else known[1]

    def _read_plain(self, leaves: PlainSet, source: Any) -> dict[str, Any] | None:
        """The completed fields of ``source``, or None when one of them needs the usual path."""
        results: dict[str, Any] = {}
        try:
            for response_name, leaf in leaves:
                value = self._read_leaf(leaf, source)
                if value is _USUAL:
                    return None
                results[response_name] = value
        except Exception:  # noqa: BLE001 - the usual path raises and reports it
            return None
        return results

    def _read_leaf(self, leaf: PlainLeaf, source: Any) -> Any:
        """A plain leaf's completed value, or _USUAL when the usual path must answer or report it."""
        attribute, coerce, nullable = leaf
        value = getattr(source, attribute)
        if value is None:
            return None if nullable else _USUAL
        if isinstance(value, Exception) or self.is_awaitable(value):
            return _USUAL
        coerced = coerce(value)
        return _USUAL if coerced is None or coerced is Undefined else coerced

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        plain = _plain_field(parent_type, node.name.value)
        if plain is not None and not node.arguments and not self.middleware_manager.middlewares:
            try:
                value = self._read_leaf(plain, source)
            except Exception:  # noqa: BLE001 - the usual path raises and reports it
                value = _USUAL
            if value is not _USUAL:
                return value
        return super().execute_field(parent_type, source, field_details_list, path, position_context)


def _all_plain(parent_type: GraphQLObjectType, grouped_field_set: Any) -> PlainSet | None:
    leaves = []
    for response_name, field_details_list in grouped_field_set.items():
        node = field_details_list[0].node
        plain = _plain_field(parent_type, node.name.value)
        if plain is None or node.arguments:
            return None
        leaves.append((response_name, plain))
    return tuple(leaves)


def _plain_field(parent_type: GraphQLObjectType, name: str) -> PlainLeaf | None:
    key = (parent_type, name)
    try:
        return _plain_leaves[key]
    except KeyError:
        plain = _plain_leaves[key] = _plain_leaf(parent_type.fields.get(name))
        return plain


def _plain_leaf(field: GraphQLField | None) -> PlainLeaf | None:
    """What a field reads and returns, if Strawberry resolves it by reading an attribute."""
    if field is None or field.args or not getattr(field.resolve, "_is_default", False):
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or definition.base_resolver is not None or definition.extensions:
        return None
    if definition.default_resolver is not getattr:
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    leaf = field.type if nullable else field.type.of_type
    if not is_leaf_type(leaf):
        return None
    return definition.python_name, _coercion(leaf), nullable


def _coercion(leaf: GraphQLLeafType) -> Callable[[Any], Any]:
    if not isinstance(leaf, CustomGraphQLEnumType):
        return leaf.coerce_output_value
    # Strawberry looks for an enum member's name through all the names, for every value.
    wrapped, names = leaf.wrapped_cls, {}
    for name, value in leaf.values.items():
        for member in wrapped:
            if member.value == value.value:
                names.setdefault(member, name)

    def coerce(value: Any) -> Any:
        return names[value] if value.__class__ is wrapped else leaf.coerce_output_value(value)

    return coerce
