"""Planning a connection: one page by keyset, its edges, cursors, page info and count.

The page is one LATERAL subquery in three levels: the innermost reads the page's rows in
the order's scan direction (`LIMIT` one past the page when page info is asked for), the
middle one adds each row's edge JSON, row number, cursor and audit items, and the outer
one aggregates them into the connection's JSON; a page without to-one joins, page info or
`last` has no middle level (its columns are computed on the limited rows themselves).
Cursor conditions and page info are compiler/pages.py.
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
from compiler.pages import Page, after, page_info
from compiler.shapes import MAX_KEYS, Inputs, Shape
from store.pagination import page_request

# arguments every connection planner applies; a root list adds its own filters
KNOWN_ARGUMENTS = ("first", "after", "last", "before", "orderBy", "updatedSince", "search")


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
    limited = (
        f"FROM {page.target.table} {k} "
        f"WHERE {' AND '.join(conditions)} ORDER BY {scan} LIMIT {limit}"
    )
    middle = ", ".join(selected.middle) or "NULL AS _"
    if not (selected.joins or page.paged or page.backward):
        # the page's rows are read in the order they answer in: the middle level's columns
        # computed on the limited rows themselves (one subquery scan fewer to start, and
        # no row of every column carried up to it; PostgreSQL computes costly columns after
        # a sort, on the page's rows only)
        return (
            f"LEFT JOIN LATERAL (SELECT {', '.join(columns)} "
            f"FROM (SELECT {middle} {limited}) {x}) {page.sub} ON true"
        )
    return (
        f"LEFT JOIN LATERAL (SELECT {', '.join(columns)} "
        f"FROM (SELECT {middle} FROM (SELECT * {limited}) {k} "
        f"{' '.join(selected.joins)} ORDER BY {page.keys(page.keyset.descending)}) {x}) "
        f"{page.sub} ON true"
    )


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
