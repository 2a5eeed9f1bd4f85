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
    first: int
    after: tuple[Any, ...] | None


@dataclass(frozen=True)
class Order:
    """A keyset order: columns plus how to read each cursor value back."""

    columns: tuple[InstrumentedAttribute[Any], ...]
    parsers: tuple[Callable[[Any], Any], ...]
    descending: bool = False
    # the cursor names the row by its last column (its id) only, and the other keys are read
    # back in SQL: for orders on a value some callers may not read (a consent's timestamp),
    # which a cursor would otherwise hand out in plain base64
    by_reference: bool = False

    def cursor(self, row: Any) -> str:
        columns = self.columns[-1:] if self.by_reference else self.columns
        return encode_cursor([_jsonable(getattr(row, c.key)) for c in columns])

    def parse(self, cursor: str) -> tuple[Any, ...]:
        if self.by_reference:
            (raw_id,) = decode_cursor(cursor, 1)
            try:
                return (self.parsers[-1](raw_id),)
            except (TypeError, ValueError):
                raise InvalidCursor() from None
        raw = decode_cursor(cursor, len(self.columns))
        try:
            return tuple(parse(v) for parse, v in zip(self.parsers, raw, strict=True))
        except (TypeError, ValueError):
            raise InvalidCursor() from None


@dataclass
class Page(Generic[M]):
    rows: list[M]
    has_next: bool
    order: Order

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


def page_request(
    first: int | None, after: str | None, order: Order, *, default: int, maximum: int
) -> PageRequest:
    """Validate `first`/`after`: a page size over the cap is an error, never a full scan."""
    if first is None:
        first = default
    if first < 0:
        raise BadUserInput("`first` must not be negative.", argument="first")
    if first > maximum:
        raise PageSizeLimit(
            f"`first` may be at most {maximum}; page through larger lists with `after`.",
            argument="first",
            limit=maximum,
        )
    return PageRequest(first=first, after=order.parse(after) if after is not None else None)


def _after_clause(columns: Sequence[Any], order: Order, after: tuple[Any, ...]) -> Any:
    key = tuple_(*columns)
    if order.by_reference:
        # the referenced row's keys, read in SQL (RLS and the tenant scope apply as usual)
        ref = order.columns[-1] == after[0]
        values = [select(c).where(ref).scalar_subquery() for c in order.columns[:-1]]
        after = (*values, after[0])
    return key < tuple_(*after) if order.descending else key > tuple_(*after)


def _order_by(columns: Sequence[Any], order: Order) -> list[Any]:
    return [c.desc() for c in columns] if order.descending else list(columns)


async def keyset_page(db: Db, stmt: Select[Any], order: Order, req: PageRequest) -> Page[Any]:
    """One page of a top-level list in one statement."""
    if req.after is not None:
        stmt = stmt.where(_after_clause(order.columns, order, req.after))
    rows = list(
        await db.scalars(stmt.order_by(*_order_by(order.columns, order)).limit(req.first + 1))
    )
    return _page(rows, req.first, order)


def _page(rows: list[Any], first: int, order: Order) -> Page[Any]:
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(rows=rows, has_next=has_next, order=order)


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
        rn = func.row_number().over(partition_by=parent, order_by=_order_by(order.columns, order))
        inner = select(model, rn.label("_rn")).where(parent.in_(parent_ids))
        if req.after is not None:
            inner = inner.where(_after_clause(order.columns, order, req.after))
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
            results[ChildPageKey(pid, req)] = _page(grouped[pid], req.first, order)
    return [results[k] for k in keys]


async def count_by_parent(
    db: Db, parent: InstrumentedAttribute[Any], parent_ids: Sequence[uuid.UUID]
) -> list[int]:
    """Child counts for many parents in one grouped statement."""
    stmt = select(parent, func.count()).where(parent.in_(parent_ids)).group_by(parent)
    rows: Sequence[Any] = (await db.execute(stmt)).all()
    counts: dict[uuid.UUID, int] = {pid: n for pid, n in rows}
    return [counts.get(pid, 0) for pid in parent_ids]
