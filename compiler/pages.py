"""A connection's page: which rows it reads past a cursor, and its page info.

compiler/connections.py builds the page's subquery; here are its keyset conditions
(`after`, `before`) and `pageInfo`, read from the row past the page and the rows' numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLObjectType

from compiler import sql
from compiler.catalog import Keyset, TableType
from compiler.collect import Getter, Unsupported, object_type
from compiler.context import PlanContext
from compiler.shapes import Inputs

CASTS = {"datetime": "timestamptz", "uuid": "uuid", "int": "int", "text": "text"}


@dataclass
class Page:
    """One connection's page as SQL: its rows `k`, the middle level `x`, the subquery `sub`,
    the page size parameter and how the rows are filtered and read."""

    target: TableType
    keyset: Keyset
    size: str
    k: str
    x: str
    sub: str
    where: list[tuple[str, str]]  # (column, parameter): a root list's filters
    parent: tuple[str, str] | None  # (the parent row's id, the child column holding it)
    since: str | None = None  # `updatedSince`, a parameter
    backward: bool = False  # a `last` page: read from the end of the range
    cursors: tuple[bool, bool] = (False, False)  # `after` and `before` given
    paged: bool = False  # page info asked for: the row past the page, row numbers

    def filters(self, alias: str) -> list[str]:
        """The rows of the whole list (the count too, as the resolver path's `where`)."""
        out = [f"{alias}.tenant_id = $1", *[f"{alias}.{c} = {p}" for c, p in self.where]]
        if self.since is not None:
            out.append(f"{alias}.updated_at >= {self.since}")
        if self.parent is not None:
            out.append(f"{alias}.{self.parent[1]} = {self.parent[0]}")
        return out

    def keys(self, descending: bool) -> str:
        direction = " DESC" if descending else ""
        return ", ".join(f"{c}{direction}" for c in self.keyset.sql(self.k))

    def in_page(self) -> str:
        """The end of an aggregate over the middle level: in the page's order, the page's
        rows only (page info reads one row past it)."""
        if not self.paged:
            return ")"
        # row numbers count in the scan's direction: the page reads them the other way back
        n_order = f"{self.x}._n DESC" if self.backward else f"{self.x}._n"
        return f" ORDER BY {n_order}) FILTER (WHERE {self.x}._n <= {self.size})"


def after(
    ctx: PlanContext,
    keyset: Keyset,
    get_after: Getter,
    k: str,
    table: str,
    *,
    before: bool = False,
) -> str:
    """Rows past an `after` cursor in the order's direction, or before a `before` one."""
    values = []
    keys = keyset.columns[-1:] if keyset.by_reference else keyset.columns
    for index, (_column, kind) in enumerate(keys):

        def value(i: Inputs, n: int = index) -> Any:
            parsed = keyset.order.parse(get_after(i.variables))
            v = parsed[n]
            if isinstance(v, dt.datetime) and v.tzinfo is None:
                raise Unsupported("a cursor time without offset")
            return v

        values.append(ctx.param(value, CASTS[kind]))
    if keyset.by_reference:
        # the cursor names a row (its id): its other keys are read in SQL, under RLS and
        # the tenant as the resolver path's scalar subqueries (store/pagination.py)
        r = ctx.alias("r")
        values = [
            f"(SELECT {key} FROM {table} {r} WHERE {r}.tenant_id = $1 AND "
            f"{r}.{keyset.columns[-1][0]} = {values[0]})"
            for key in keyset.sql(r)[:-1]
        ] + values
    columns = ", ".join(keyset.sql(k))
    op = "<" if keyset.descending != before else ">"
    return f"({columns}) {op} ({', '.join(values)})"


def page_info(
    ctx: PlanContext, nodes: list[FieldNode], page: Page, conn_type: GraphQLObjectType
) -> tuple[sql.Parts, bool, bool]:
    """(JSON, whether it needs the rows' cursors, whether it aggregates the rows: a
    selection of constants alone does not, and makes no row over no rows)."""
    info_type = object_type(conn_type.fields["pageInfo"])
    size, x, backward = page.size, page.x, page.backward
    pairs: list[tuple[str, sql.Piece]] = []
    cursor_needed = False
    aggregated = False
    for key, fnodes in ctx.collector.fields(info_type.name, nodes).items():
        name = fnodes[0].name.value
        expr: sql.Piece
        if name == "__typename":
            expr = sql.Raw(f'"{info_type.name}"')
        elif name in ("hasNextPage", "hasPreviousPage"):
            # the row past the page answers for the direction read; the other one is
            # whether a cursor bounds the range (store/pagination.py _page)
            if (name == "hasNextPage") != backward:
                expr = f"(count(*) > {size})::text"
                aggregated = True
            else:
                bounded = page.cursors[1] if backward else page.cursors[0]
                expr = sql.Raw("true" if bounded else "false")
        elif name in ("startCursor", "endCursor"):
            cursor_needed = aggregated = True
            direction = "" if (name == "startCursor") != backward else " DESC"
            first = (
                f"(array_agg({x}.cur ORDER BY {x}._n{direction}) "
                f"FILTER (WHERE {x}._n <= {size}))[1]"
            )
            expr = sql.json_text(first, "cursor", nullable=True)
        else:
            raise Unsupported(f"PageInfo.{name}")
        pairs.append((key, expr))
    return sql.json_object(pairs), cursor_needed, aggregated
