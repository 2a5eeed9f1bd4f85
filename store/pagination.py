"""Cursor pagination: page-size rules, keyset pages, and per-parent child pages."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, aliased

from core.db import Db
from core.errors import ApiError, BadUserInput
from core.ids import InvalidCursor, decode_cursor, encode_cursor

M = TypeVar("M")


class PageSizeLimit(ApiError):
    code = "PAGE_SIZE_LIMIT"


@dataclass(frozen=True)
class PageRequest:
    """A page: `first` rows (the page size, `first` or `last`) after and/or before cursors.

    `backward` (a `last` page) reads from the end of the range and returns rows in order.
    """

    first: int
    after: tuple[Any, ...] | None
    before: tuple[Any, ...] | None = None
    backward: bool = False


@dataclass(frozen=True)
class Order:
    """A keyset order: columns plus how to read each cursor value back.

    `nulls` gives, per column, the value a NULL sorts as (a keyset comparison with NULL
    would drop rows); `tag` names a non-default order inside its cursors, so a cursor of one
    order is refused by another instead of silently paging wrong.
    """

    columns: tuple[InstrumentedAttribute[Any], ...]
    parsers: tuple[Callable[[Any], Any], ...]
    descending: bool = False
    nulls: tuple[Any, ...] | None = None
    tag: str | None = None
    # the cursor names the row by its last column (its id) only, and the other keys are read
    # back in SQL: for orders on a value some callers may not read (a consent's timestamp),
    # which a cursor would otherwise hand out in plain base64
    by_reference: bool = False

    def sql_columns(self) -> list[Any]:
        if self.nulls is None:
            return list(self.columns)
        return [
            c if n is None else func.coalesce(c, n)
            for c, n in zip(self.columns, self.nulls, strict=True)
        ]

    def cursor(self, row: Any) -> str:
        if self.by_reference:
            head = [self.tag] if self.tag else []
            return encode_cursor([*head, _jsonable(getattr(row, self.columns[-1].key))])
        values = [getattr(row, c.key) for c in self.columns]
        if self.nulls is not None:
            values = [n if v is None else v for v, n in zip(values, self.nulls, strict=True)]
        head = [self.tag] if self.tag else []
        return encode_cursor([*head, *(_jsonable(v) for v in values)])

    def parse(self, cursor: str) -> tuple[Any, ...]:
        width = 1 if self.by_reference else len(self.columns)
        raw = decode_cursor(cursor, width + (1 if self.tag else 0))
        if self.tag:
            if raw[0] != self.tag:
                raise InvalidCursor()
            raw = raw[1:]
        parsers = self.parsers[-1:] if self.by_reference else self.parsers
        try:
            return tuple(parse(v) for parse, v in zip(parsers, raw, strict=True))
        except (TypeError, ValueError):
            raise InvalidCursor() from None


@dataclass
class Page(Generic[M]):
    rows: list[M]
    has_next: bool
    order: Order
    has_previous: bool = False

    def cursor(self, index: int) -> str:
        """The cursor of one row, encoded only when a caller selects it."""
        return self.order.cursor(self.rows[index])


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    return datetime.fromisoformat(value)


def parse_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(value)
    return value


def parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def page_request(
    first: int | None,
    after: str | None,
    order: Order,
    *,
    default: int,
    maximum: int,
    last: int | None = None,
    before: str | None = None,
) -> PageRequest:
    """Validate `first`/`after`/`last`/`before`: a page size over the cap is an error, never
    a full scan."""
    if first is not None and last is not None:
        raise BadUserInput("Pass `first` or `last`, not both.", argument="last")
    backward = last is not None
    argument = "last" if backward else "first"
    size = last if last is not None else first
    if size is None:
        size = default
    if size < 0:
        raise BadUserInput(f"`{argument}` must not be negative.", argument=argument)
    if size > maximum:
        raise PageSizeLimit(
            f"`{argument}` may be at most {maximum}; page through larger lists with "
            f"`{'before' if backward else 'after'}`.",
            argument=argument,
            limit=maximum,
        )
    return PageRequest(
        first=size,
        after=order.parse(after) if after is not None else None,
        before=order.parse(before) if before is not None else None,
        backward=backward,
    )


def _beyond(columns: Sequence[Any], order: Order, descending: bool, cursor: tuple[Any, ...]) -> Any:
    """Rows past `cursor` in the direction of an order (descending or not)."""
    key = tuple_(*columns)
    if order.by_reference:
        # the referenced row's keys, read in SQL (RLS and the tenant scope apply as usual)
        ref = order.columns[-1] == cursor[0]
        values = [select(c).where(ref).scalar_subquery() for c in columns[:-1]]
        cursor = (*values, cursor[0])
    return key < tuple_(*cursor) if descending else key > tuple_(*cursor)


def _range(columns: Sequence[Any], order: Order, req: PageRequest) -> list[Any]:
    clauses = []
    if req.after is not None:
        clauses.append(_beyond(columns, order, order.descending, req.after))
    if req.before is not None:
        clauses.append(_beyond(columns, order, not order.descending, req.before))
    return clauses


def _order_by(columns: Sequence[Any], descending: bool) -> list[Any]:
    return [c.desc() for c in columns] if descending else list(columns)


def _scan(order: Order, req: PageRequest) -> bool:
    """The direction rows are read in: a `last` page reads the order backwards."""
    return order.descending != req.backward


async def keyset_page(db: Db, stmt: Select[Any], order: Order, req: PageRequest) -> Page[Any]:
    """One page of a top-level list in one statement."""
    columns = order.sql_columns()
    stmt = stmt.where(*_range(columns, order, req))
    rows = list(
        await db.scalars(stmt.order_by(*_order_by(columns, _scan(order, req))).limit(req.first + 1))
    )
    return _page(rows, req, order)


def _page(rows: list[Any], req: PageRequest, order: Order) -> Page[Any]:
    more = len(rows) > req.first
    rows = rows[: req.first]
    if req.backward:
        rows.reverse()
        has_next, has_previous = req.before is not None, more
    else:
        has_next, has_previous = more, req.after is not None
    return Page(rows=rows, has_next=has_next, order=order, has_previous=has_previous)


@dataclass(frozen=True)
class ChildPageKey:
    parent_id: uuid.UUID
    req: PageRequest


async def child_pages(
    db: Db,
    model: type[Any],
    parent: InstrumentedAttribute[Any],
    order: Order,
    keys: Sequence[ChildPageKey],
) -> list[Page[Any]]:
    """Pages of children for many parents: one statement per distinct page request."""
    results: dict[ChildPageKey, Page[Any]] = {}
    by_req: dict[PageRequest, list[uuid.UUID]] = {}
    for key in keys:
        by_req.setdefault(key.req, []).append(key.parent_id)
    for req, parent_ids in by_req.items():
        columns = order.sql_columns()
        rn = func.row_number().over(
            partition_by=parent, order_by=_order_by(columns, _scan(order, req))
        )
        inner = (
            select(model, rn.label("_rn"))
            .where(parent.in_(parent_ids))
            .where(*_range(columns, order, req))
        )
        sub = inner.subquery()
        alias = aliased(model, sub)
        stmt = (
            select(alias)
            .where(sub.c._rn <= req.first + 1)
            .order_by(sub.c[parent.key], sub.c._rn)
            .execution_options(populate_existing=True)
        )
        grouped: dict[uuid.UUID, list[Any]] = {pid: [] for pid in parent_ids}
        for row in await db.scalars(stmt):
            grouped[getattr(row, parent.key)].append(row)
        for pid in parent_ids:
            results[ChildPageKey(pid, req)] = _page(grouped[pid], req, order)
    return [results[k] for k in keys]


async def count_by_parent(
    db: Db, parent: InstrumentedAttribute[Any], parent_ids: Sequence[uuid.UUID]
) -> list[int]:
    """Child counts for many parents in one grouped statement."""
    stmt = select(parent, func.count()).where(parent.in_(parent_ids)).group_by(parent)
    rows: Sequence[Any] = (await db.execute(stmt)).all()
    counts: dict[uuid.UUID, int] = {pid: n for pid, n in rows}
    return [counts.get(pid, 0) for pid in parent_ids]
