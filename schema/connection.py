"""Relay connections: edges, page info and a lazily counted total."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from resolvers.pagination import Page

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of items in the whole list, not just this page.")
    async def total_count(self) -> int:
        return await self._count()

    @classmethod
    def from_page(
        cls,
        page: Page[Any],
        convert: Callable[[Any], T],
        count: Callable[[], Awaitable[int]],
        *,
        after: str | None,
    ) -> Connection[T]:
        edges = [Edge(cursor=c, node=convert(r)) for r, c in zip(page.rows, page.cursors)]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=after is not None,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            _count=count,
        )
