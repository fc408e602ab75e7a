"""Each request's document: parsed, validated, and its items counted before it runs.

The operations of the console and of a client's bots come back again and again, so a
document's parse and the validation rules' verdict on it are kept by its text. That saves
their time and, above all, their garbage: parsing links its tokens both ways and validation's
visitors hold their context, some thousand objects in reference cycles a request, which only
the garbage collector frees; its passes were the longest stops of the API's event loop under
load, and they stop every request of the process, other tenants' too. Kept entries are bounded
(each holds a parsed document). The count of items depends on the request's variables, so it is
made for each request (``gql.complexity``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache

from graphql import GraphQLError
from graphql.language.parser import parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from gql.complexity import too_many_items
from gql.pacing import note_cost

KEPT_DOCUMENTS = 64

_parse = lru_cache(maxsize=KEPT_DOCUMENTS)(parse)
# By document (the kept parse, so the same object for the same text) and rule set.
_validate = lru_cache(maxsize=KEPT_DOCUMENTS)(validate_document)


class CheckedDocuments(SchemaExtension):
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items

    def on_parse(self) -> Iterator[None]:
        execution_context = self.execution_context
        # A document that does not parse is left to Strawberry, which reports its syntax error.
        with suppress(GraphQLError):
            execution_context.graphql_document = _parse(execution_context.query, **execution_context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        document = execution_context.graphql_document
        schema = execution_context.schema._schema
        errors = _validate(schema, document, execution_context.validation_rules)
        if not errors:
            cost, refusal = too_many_items(schema, document, execution_context.variables or {}, self.max_items)
            note_cost(execution_context, cost)
            errors = [refusal] if refusal else []
        execution_context.pre_execution_errors = errors
        yield
