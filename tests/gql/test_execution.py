"""The plain-field shortcut of ``gql.execution`` answers exactly what Strawberry's own execution does,
errors and their paths included."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gql.execution import PlainFieldExecution
from gql.scalars import SCALARS, BigInt


@strawberry.enum
class Colour(StrEnum):
    RED = "RED"
    DARK_BLUE = "dark blue"


@strawberry.type
class Leaf:
    name: str
    colour: Colour
    size: float | None
    count: BigInt
    at: datetime | None
    data: JSON | None


@strawberry.type
class Strict:
    name: str  # holds None: a field error that nulls the parent
    problem: str | None = None  # holds an exception: a field error


@strawberry.type
class Branch:
    label: str
    leaves: list[Leaf]
    strict: Strict | None
    wrong_type: int  # holds a string
    stricts: list[Strict] = strawberry.field(default_factory=list)

    @strawberry.field
    def shout(self, loud: bool = False) -> str:
        return self.label.upper() if loud else self.label

    @strawberry.field
    async def later(self) -> Colour:
        await asyncio.sleep(0)
        return Colour.DARK_BLUE


@strawberry.type
class BrokenLeaf:
    @strawberry.field
    def name(self) -> str:
        raise ValueError("broken")


def branches() -> list[Branch]:
    at = datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=UTC)
    leaves = [
        Leaf(name="a", colour=Colour.RED, size=1.5, count=2**40, at=at, data={"n": [1, None]}),
        Leaf(name="b", colour=Colour.DARK_BLUE, size=None, count=0, at=None, data=None),
    ]
    return [
        Branch(label="one", leaves=leaves, strict=None, wrong_type=3),
        Branch(label="two", leaves=leaves[:1], strict=Strict(name=None), wrong_type="x"),  # type: ignore[arg-type]
        Branch(label="three", leaves=[], strict=Strict(name="s", problem=ValueError("held")), wrong_type=0),  # type: ignore[arg-type]
        Branch(label="four", leaves=[], strict=None, wrong_type=0, stricts=[Strict(name="s"), Strict(name=None)]),  # type: ignore[arg-type]
    ]


@strawberry.type
class Query:
    @strawberry.field
    def branches(self) -> list[Branch]:
        return branches()


class CountsResolves(SchemaExtension):
    resolved = 0

    def resolve(self, _next, root, info, *args, **kwargs):  # noqa: ANN001, ANN201
        CountsResolves.resolved += 1
        return _next(root, info, *args, **kwargs)


def schemas(*extensions: type[SchemaExtension]) -> Iterator[strawberry.Schema]:
    for execution in (StrawberryGraphQLCoreExecutionContext, PlainFieldExecution):
        yield strawberry.Schema(
            query=Query,
            execution_context_class=execution,
            extensions=extensions,
            config=StrawberryConfig(scalar_map=SCALARS),
        )


QUERIES = [
    "{ branches { label leaves { name colour size count at data } } }",
    "{ branches { label leaves { __typename name n2: name colour } } }",
    "{ branches { label shout loud: shout(loud: true) later leaves { colour } } }",
    "{ branches { label strict { name } } }",
    "{ branches { strict { problem } } }",
    "{ branches { strict { name problem } } }",
    "{ branches { label wrongType } }",
    "{ branches { leaves { name ... on Leaf { colour } } } }",
    "{ branches { label stricts { name } } }",
    "{ branches { leaves { name colour @include(if: false) size @skip(if: false) } } }",
]


def answer(schema: strawberry.Schema, query: str) -> tuple[object, list[tuple[str, object]]]:
    result = asyncio.run(schema.execute(query))
    return result.data, sorted((error.message, error.path) for error in result.errors or ())


@pytest.mark.parametrize("query", QUERIES)
def test_plain_fields_answer_as_strawberry_does(query: str):
    expected, shortcut = (answer(schema, query) for schema in schemas())
    assert shortcut == expected


def test_a_resolve_extension_still_sees_every_field():
    plain, shortcut = schemas(CountsResolves)
    CountsResolves.resolved = 0
    expected = answer(plain, QUERIES[0])
    resolved = CountsResolves.resolved
    CountsResolves.resolved = 0
    assert answer(shortcut, QUERIES[0]) == expected
    assert CountsResolves.resolved == resolved > 0


def test_a_resolver_that_raises_is_reported_the_same_way():
    @strawberry.type
    class Broken:
        @strawberry.field
        def leaf(self) -> BrokenLeaf | None:
            return BrokenLeaf()

    expected, shortcut = (
        answer(strawberry.Schema(query=Broken, execution_context_class=execution), "{ leaf { name } }")
        for execution in (StrawberryGraphQLCoreExecutionContext, PlainFieldExecution)
    )
    assert shortcut == expected
    assert expected[1]
