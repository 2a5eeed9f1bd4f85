"""Planning a connection: one page by keyset, its edges, cursors, page info and count.

The page is one LATERAL subquery in three levels: the innermost reads the page's rows in
the order's scan direction (`LIMIT` one past the page when page info is asked for), the
middle one adds each row's edge JSON, row number, cursor and audit items, and the outer
one aggregates them into the connection's JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode, GraphQLField, GraphQLObjectType

from compiler import sql
from compiler.catalog import Keyset, TableType
from compiler.collect import Fields, Getter, Unsupported, argument, object_type
from compiler.context import PlanContext
from compiler.orders import planned_order
from compiler.shapes import MAX_KEYS, Inputs, Shape
from store.pagination import page_request

# arguments every connection planner applies; a root list adds its own filters
KNOWN_ARGUMENTS = ("first", "after", "last", "before", "orderBy", "updatedSince", "search")
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


@dataclass
class Selected:
    """What the connection's selection puts in the outer and middle levels."""

    outer: list[tuple[str, sql.Piece]] = field(default_factory=list)
    middle: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)  # the nodes' to-one relations
    aggregates: bool = False  # an aggregate reads the rows: one row even for none
    cursor_needed: bool = False
    audit: str | None = None  # the nodes' audit items, per row


def connection(
    ctx: PlanContext,
    target: TableType,
    keyset: Keyset,
    field_def: GraphQLField,
    nodes: list[FieldNode],
    *,
    parent: tuple[str, str] | None,
    where: list[tuple[str, str]],
    shape: Shape,
    handled: Collection[str] = (),
) -> tuple[str, str, bool]:
    """(LATERAL subquery with the connection's JSON and audit of one page, its alias,
    whether it audits)."""
    _refuse_unknown_arguments(ctx, field_def, nodes, handled)
    conn_type = object_type(field_def)

    def arg(name: str) -> Getter:
        return argument(field_def, nodes[0], name)

    if arg("orderBy")(ctx.variables) is not None:
        keyset = planned_order(target, arg("orderBy"), ctx.variables, ctx.authz, ctx.checks)
    page = _page(ctx, target, keyset, arg, parent, where)
    fields = ctx.collector.fields(conn_type.name, nodes)
    page.paged = any(f[0].name.value == "pageInfo" for f in fields.values())
    conditions = page.filters(page.k)
    get_after, get_before = arg("after"), arg("before")
    if page.cursors[0]:
        conditions.append(after(ctx, keyset, get_after, page.k, target.table))
    if page.cursors[1]:
        conditions.append(after(ctx, keyset, get_before, page.k, target.table, before=True))
    selected = _selection(ctx, page, conn_type, fields, shape)
    return _lateral(page, conditions, selected), page.sub, selected.audit is not None


def _refuse_unknown_arguments(
    ctx: PlanContext, field_def: GraphQLField, nodes: list[FieldNode], handled: Collection[str]
) -> None:
    """An argument this planner does not apply (any added later) sends the query to the
    resolver path, never silently ignored."""
    known = {*KNOWN_ARGUMENTS, *handled}
    for name in field_def.args:
        if name not in known and argument(field_def, nodes[0], name)(ctx.variables) is not None:
            raise Unsupported(f"argument {name}")


def _page(
    ctx: PlanContext,
    target: TableType,
    keyset: Keyset,
    arg: Callable[[str], Getter],
    parent: tuple[str, str] | None,
    where: list[tuple[str, str]],
) -> Page:
    """The page's size parameter, aliases and `updatedSince`, in the statement's order."""
    order = keyset.order
    get_first, get_last = arg("first"), arg("last")

    def first(i: Inputs) -> int:
        # its errors (first and last, a size over the cap) fall back to the resolver path
        req = page_request(
            get_first(i.variables),
            None,
            order,
            default=i.default_page_size,
            maximum=i.max_page_size,
            last=get_last(i.variables),
        )
        return req.first

    size = ctx.param(first, "int")
    k, x, sub = ctx.alias("k"), ctx.alias("x"), ctx.alias("c")
    page = Page(target, keyset, size, k, x, sub, where, parent)
    get_since = arg("updatedSince")
    if get_since(ctx.variables) is not None:

        def since_value(i: Inputs) -> Any:
            value = get_since(i.variables)
            if not isinstance(value, dt.datetime) or value.tzinfo is None:
                raise Unsupported("an updatedSince without offset")
            return value

        page.since = ctx.param(since_value, "timestamptz")
    # a `last` page (store/pagination.py): read backwards from the end of the range, the
    # row past the page tells hasPreviousPage, rows answer in the order's direction
    page.backward = get_last(ctx.variables) is not None
    page.cursors = (
        arg("after")(ctx.variables) is not None,
        arg("before")(ctx.variables) is not None,
    )
    return page


def _selection(
    ctx: PlanContext, page: Page, conn_type: GraphQLObjectType, fields: Fields, shape: Shape
) -> Selected:
    """The connection's fields: count, page info and edges."""
    x, keyset = page.x, page.keyset
    scan = page.keys(keyset.descending != page.backward)
    out = Selected(middle=[f"row_number() OVER (ORDER BY {scan}) AS _n"] if page.paged else [])
    edge_type = object_type(conn_type.fields["edges"])
    parts = [(kind, c) for (_, kind), c in zip(keyset.columns, keyset.sql(page.k), strict=True)]
    cursor = sql.cursor(parts[-1:] if keyset.by_reference else parts, keyset.order.tag)
    for key, fnodes in fields.items():
        name = fnodes[0].name.value
        if name == "__typename":
            out.outer.append((key, sql.Raw(f'"{conn_type.name}"')))
        elif name == "totalCount":
            n = ctx.alias("n")
            count = (
                f"(SELECT count(*) FROM {page.target.table} {n} "
                f"WHERE {' AND '.join(page.filters(n))})::text"
            )
            out.outer.append((key, count))
        elif name == "pageInfo":
            info, needs_cursor, aggregated = page_info(ctx, fnodes, page, conn_type)
            out.cursor_needed |= needs_cursor
            out.aggregates |= aggregated
            out.outer.append((key, info))
        elif name == "edges":
            edge_shape = Shape()
            edge_json, aud = edge(ctx, page, edge_type, fnodes, out.joins, edge_shape, cursor)
            column = ctx.alias("e")
            out.middle.append(f"{edge_json} AS {column}")
            if aud is not None:
                out.audit = aud if out.audit is None else f"concat_ws(';', {out.audit}, {aud})"
            out.aggregates = True
            items = f"string_agg({x}.{column}, ','{page.in_page()}"
            out.outer.append((key, sql.json_array(items)))
            if edge_shape:
                shape.items.append(("edges", key, edge_shape))
        else:
            raise Unsupported(f"{conn_type.name}.{name}")
    if len(out.outer) > MAX_KEYS:
        raise Unsupported("too many fields in one object")
    if out.cursor_needed:
        if cursor is None:
            raise Unsupported("a cursor of a text key")
        out.middle.append(f"{cursor} AS cur")
    if out.audit is not None:
        out.middle.append(f"{out.audit} AS a")
    return out


def _lateral(page: Page, conditions: list[str], selected: Selected) -> str:
    """The page's LATERAL subquery. The middle level keeps the page's order (a to-one join
    may be a hash join), and a plain aggregate reads its input in that order."""
    x, k = page.x, page.k
    columns = [f"{sql.json_object(selected.outer)} AS j"]
    if selected.audit is not None:
        columns.append(f"string_agg({x}.a, ';'{page.in_page()} AS a")
    if not selected.aggregates:
        columns.append("count(*) AS _rows")  # an aggregate: one row even for no rows
    limit = f"{page.size} + 1" if page.paged else page.size
    scan = page.keys(page.keyset.descending != page.backward)
    rows = (
        f"SELECT * FROM {page.target.table} {k} "
        f"WHERE {' AND '.join(conditions)} ORDER BY {scan} LIMIT {limit}"
    )
    middle = ", ".join(selected.middle) or "NULL AS _"
    return (
        f"LEFT JOIN LATERAL (SELECT {', '.join(columns)} "
        f"FROM (SELECT {middle} FROM ({rows}) {k} "
        f"{' '.join(selected.joins)} ORDER BY {page.keys(page.keyset.descending)}) {x}) "
        f"{page.sub} ON true"
    )


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


def edge(
    ctx: PlanContext,
    page: Page,
    edge_type: GraphQLObjectType,
    nodes: list[FieldNode],
    joins: list[str],
    shape: Shape,
    cursor: str | None,
) -> tuple[sql.Parts, str | None]:
    """(JSON, audit or None) of one edge: its cursor and its node, the row `page.k`."""
    pairs: list[tuple[str, sql.Piece]] = []
    aud: str | None = None
    for key, fnodes in ctx.collector.fields(edge_type.name, nodes).items():
        name = fnodes[0].name.value
        expr: sql.Piece
        if name == "__typename":
            expr = sql.Raw(f'"{edge_type.name}"')
        elif name == "cursor":
            if cursor is None:
                raise Unsupported("a cursor of a text key")
            expr = sql.json_text(cursor, "cursor", nullable=False)
        elif name == "node":
            node_shape = Shape()
            fields = ctx.collector.fields(page.target.name, fnodes)
            expr, aud, inner = ctx.plan_object(ctx, page.target, page.k, fields, node_shape)
            if node_shape.fails:
                # which entry fails first depends on the rows
                raise Unsupported("a failing field under a list")
            joins.extend(inner)
            if node_shape:
                shape.items.append(("object", key, node_shape))
        else:
            raise Unsupported(f"{edge_type.name}.{name}")
        pairs.append((key, expr))
    if len(pairs) > MAX_KEYS:
        raise Unsupported("too many fields in one object")
    return sql.json_object(pairs), aud


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
