"""The ``Node`` interface and Relay connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import strawberry

T = TypeVar("T")


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole list holds (a second query).")
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def of(
        cls, nodes: Sequence[T], cursors: Sequence[str], has_next: bool, count: Callable[[], Awaitable[int]]
    ) -> Connection[T]:
        edges = [Edge(cursor=cursor, node=node) for node, cursor in zip(nodes, cursors, strict=True)]
        return cls(
            edges=edges,
            page_info=PageInfo(has_next_page=has_next, end_cursor=cursors[-1] if cursors else None),
            count=count,
        )
