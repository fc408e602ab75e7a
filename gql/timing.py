"""How long each GraphQL query and mutation takes, named by what it asked for, and its span.

An operation is named by its type and its root fields as the schema spells them (``query``
``jobs``, ``mutation`` ``startJob``), never by the operation name the client chose, so
the names stay as few as the schema's root fields however clients write their documents.
An operation with several root fields is timed under each of them. Subscriptions are not
timed (they last as long as their subscriber stays), nor are documents that name no root
field of the schema (they did not parse or validate).

The context carries where the times go (``Context.observe_operation``): the app's metrics.
With tracing on (``jobtower.tracing``), the execution of each query and mutation is a span of
the same name, continuing the trace context the request's headers carry; a job that
``startJob`` admits keeps it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from jobtower import tracing

# (operation type, its root fields, seconds)
OperationObserver = Callable[[str, frozenset[str], float], None]

TIMED = frozenset({OperationType.QUERY, OperationType.MUTATION})
# Introspection's root fields, which no root type declares.
INTROSPECTION = frozenset({"__typename", "__schema", "__type"})


class OperationTiming(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        observe = getattr(self.execution_context.context, "observe_operation", None)
        named = self._named()
        if observe is not None and named is not None:
            observe(named[0].value, named[1], time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        named = self._named()
        if named is None:
            yield
            return
        request = getattr(self.execution_context.context, "request", None)
        with tracing.span(
            f"{named[0].value} {','.join(sorted(named[1]))}",
            parent=getattr(request, "headers", {}),
            attributes={"graphql.operation.type": named[0].value},
        ):
            yield

    def _named(self) -> tuple[OperationType, frozenset[str]] | None:
        """The operation's type and root fields, if it is a query or mutation that names any."""
        context = self.execution_context
        if context.graphql_document is None:
            return None
        named = root_fields(context.graphql_document, context.operation_name, context.schema._schema)
        return named if named is not None and named[0] in TIMED and named[1] else None


def root_fields(
    document: DocumentNode, operation_name: str | None, schema: GraphQLSchema
) -> tuple[OperationType, frozenset[str]] | None:
    """The type of the operation the request runs, and the root fields of the schema it selects
    (through fragments too); None when the document has no such operation."""
    operation = get_operation_ast(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation is not None else None
    if operation is None or root is None:
        return None
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    names: set[str] = set()
    spread: set[str] = set()
    # A stack, not recursion: a document may nest inline fragments thousands deep.
    pending: list[SelectionSetNode] = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in spread:
                    spread.add(name)
                    pending.append(fragments[name].selection_set)
    return operation.operation, frozenset(name for name in names if name in root.fields or name in INTROSPECTION)
