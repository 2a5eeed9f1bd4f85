"""Relay connections: edges, page info and a lazily counted total."""

from __future__ import annotations

import enum
import importlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Generic, Optional, TypeVar

import strawberry
from sqlalchemy import func, select
from strawberry.extensions import FieldExtension

from store.pagination import ChildPageKey, Order, Page, keyset_page, page_request

T = TypeVar("T")


@strawberry.enum(description="The direction of an ordering.")
class OrderDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    _page: strawberry.Private[Page[Any]]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return self._page.cursor(0) if self._page.rows else None

    @strawberry.field
    def end_cursor(self) -> str | None:
        return self._page.cursor(len(self._page.rows) - 1) if self._page.rows else None


@strawberry.type
class Edge(Generic[T]):
    node: T
    _page: strawberry.Private[Page[Any]]
    _index: strawberry.Private[int]

    @strawberry.field
    def cursor(self) -> str:
        # encoded only when selected: most lists never ask for it
        return self._page.cursor(self._index)


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
        after: str | None = None,
    ) -> Connection[T]:
        edges = [Edge(node=convert(r), _page=page, _index=i) for i, r in enumerate(page.rows)]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                _page=page,
            ),
            _count=count,
        )


async def child_connection(
    info: Any,
    parent_id: Any,
    first: int | None,
    after: str | None,
    *,
    order: Order,
    pages: Any,
    counts: Any,
    convert: Callable[[Any], T],
    last: int | None = None,
    before: str | None = None,
) -> Connection[T]:
    """A nested connection (a space's blocks, a contact's consent history...) through its
    page and count loaders, so a list of parents costs one statement per level."""
    settings = info.context.settings
    req = page_request(
        first,
        after,
        order,
        default=settings.default_page_size,
        maximum=settings.max_page_size,
        last=last,
        before=before,
    )
    page = await pages.load(ChildPageKey(parent_id, req))
    return Connection.from_page(page, convert, lambda: counts.load(parent_id), after=after)


async def list_connection(
    info: Any,
    model: type[Any],
    where: list[Any],
    first: int | None,
    after: str | None,
    *,
    order: Order,
    convert: Callable[[Any], T],
    last: int | None = None,
    before: str | None = None,
) -> Connection[T]:
    """A top-level connection: one statement for the page, one for `totalCount` if asked."""
    ctx = info.context
    req = page_request(
        first,
        after,
        order,
        default=ctx.settings.default_page_size,
        maximum=ctx.settings.max_page_size,
        last=last,
        before=before,
    )
    page = await keyset_page(ctx.db, select(model).where(*where), order, req)

    async def count() -> int:
        return int(await ctx.db.scalar(select(func.count()).select_from(model).where(*where)))

    return Connection.from_page(page, convert, count, after=after)


def nested_connection(
    node: type[Any] | str,
    *,
    pages: str,
    counts: str,
    order: Order,
    description: str,
    extensions: Sequence[FieldExtension] = (),
    nullable: bool = False,
) -> Any:
    """A nested connection field (a space's blocks, a contact's consent history...), read
    through the parent's page and count loaders (`Loaders` attribute names).

    `node` is the node type, or "module.Type" for a type whose module imports this one (the
    schema's types refer to each other as a graph does; strawberry resolves it lazily).
    """
    if isinstance(node, str):
        module, _, name = node.rpartition(".")
        node_annotation: Any = Annotated[name, strawberry.lazy(module)]

        def node_type() -> Any:
            return getattr(importlib.import_module(module), name)
    else:
        node_annotation = node

        def node_type() -> Any:
            return node

    returns: Any = Connection[node_annotation]

    async def resolve(
        self: Any,
        info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Any:
        loaders = info.context.loaders
        return await child_connection(
            info,
            self.pk,
            first,
            after,
            last=last,
            before=before,
            order=order,
            pages=getattr(loaders, pages),
            counts=getattr(loaders, counts),
            convert=node_type().from_model,
        )

    resolve.__annotations__ = {
        "info": strawberry.Info,
        "first": int | None,
        "after": str | None,
        "last": int | None,
        "before": str | None,
        "return": Optional[returns] if nullable else returns,  # noqa: UP045 - a runtime value
    }
    return strawberry.field(resolver=resolve, description=description, extensions=list(extensions))
