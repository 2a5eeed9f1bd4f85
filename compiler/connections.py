"""Planning a connection: one page by keyset, its edges, cursors, page info and count."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from graphql import FieldNode, GraphQLObjectType

from compiler import sql
from compiler.catalog import Keyset, TableType
from compiler.collect import Getter, Unsupported, argument, object_type
from compiler.orders import planned_order
from compiler.shapes import MAX_KEYS, Inputs, Shape
from store.pagination import page_request


class ConnectionPlanning:
    """The connection part of `Planner` (compiler/plan.py), which provides the helpers."""

    param: Any
    authz: Any
    checks: Any
    alias: Any
    collector: Any
    variables: dict[str, Any]
    object: Any

    def connection(
        self,
        target: TableType,
        keyset: Keyset,
        field_def: Any,
        nodes: list[FieldNode],
        *,
        parent: tuple[str, str] | None,
        where: list[tuple[str, str]],
        shape: Shape,
        handled: Collection[str] = (),
    ) -> tuple[str, str, bool]:
        """A LATERAL subquery with the connection's JSON (and audit) of one page."""
        # an argument this planner does not apply (orderBy, updatedSince, any added later)
        # sends the query to the resolver path, never silently ignored
        known = {"first", "after", "last", "before", "orderBy", "updatedSince", "search", *handled}
        for name in field_def.args:
            if (
                name not in known
                and argument(field_def, nodes[0], name)(self.variables) is not None
            ):
                raise Unsupported(f"argument {name}")
        conn_type = object_type(field_def)
        get_first = argument(field_def, nodes[0], "first")
        get_after = argument(field_def, nodes[0], "after")
        get_last = argument(field_def, nodes[0], "last")
        get_before = argument(field_def, nodes[0], "before")
        get_order = argument(field_def, nodes[0], "orderBy")
        if get_order(self.variables) is not None:
            keyset = planned_order(target, get_order, self.variables, self.authz, self.checks)
        order = keyset.order
        # a `last` page (store/pagination.py): read backwards from the end of the range, the
        # row past the page tells hasPreviousPage, rows answer in the order's direction
        backward = get_last(self.variables) is not None

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

        size = self.param(first, "int")
        k, x, sub = self.alias("k"), self.alias("x"), self.alias("c")

        get_since = argument(field_def, nodes[0], "updatedSince")
        since: str | None = None
        if get_since(self.variables) is not None:

            def since_value(i: Inputs) -> Any:
                value = get_since(i.variables)
                if not isinstance(value, dt.datetime) or value.tzinfo is None:
                    raise Unsupported("an updatedSince without offset")
                return value

            since = self.param(since_value, "timestamptz")

        def filters(alias: str) -> list[str]:
            out = [f"{alias}.tenant_id = $1", *[f"{alias}.{c} = {p}" for c, p in where]]
            if since is not None:  # the count too, as the resolver path's `where`
                out.append(f"{alias}.updated_at >= {since}")
            if parent is not None:
                out.append(f"{alias}.{parent[1]} = {parent[0]}")
            return out

        conditions = filters(k)
        has_after = get_after(self.variables) is not None
        has_before = get_before(self.variables) is not None
        if has_after:
            conditions.append(self.after(keyset, get_after, k, target.table))
        if has_before:
            conditions.append(self.after(keyset, get_before, k, target.table, before=True))
        direction = " DESC" if keyset.descending else ""
        order_by = ", ".join(f"{c}{direction}" for c in keyset.sql(k))
        scan_direction = " DESC" if keyset.descending != backward else ""
        scan = ", ".join(f"{c}{scan_direction}" for c in keyset.sql(k))
        # row numbers count in the scan's direction: the page reads them the other way back
        n_order = f"{x}._n DESC" if backward else f"{x}._n"
        fields = self.collector.fields(conn_type.name, nodes)
        # page info needs the row past the page and the rows' numbers; without it a page
        # is a plain ORDER BY ... LIMIT that its aggregates read in order
        paged = any(f[0].name.value == "pageInfo" for f in fields.values())
        middle: list[str] = [f"row_number() OVER (ORDER BY {scan}) AS _n"] if paged else []
        in_page = f" ORDER BY {n_order}) FILTER (WHERE {x}._n <= {size})" if paged else ")"
        inner_joins: list[str] = []
        outer: list[tuple[str, sql.Piece]] = []
        aggregates = False
        cursor_needed = False
        node_aud: str | None = None
        edge_type = object_type(conn_type.fields["edges"])
        parts = [(kind, c) for (_, kind), c in zip(keyset.columns, keyset.sql(k), strict=True)]
        cursor = sql.cursor(parts[-1:] if keyset.by_reference else parts, order.tag)
        for key, fnodes in fields.items():
            name = fnodes[0].name.value
            if name == "__typename":
                outer.append((key, sql.Raw(f'"{conn_type.name}"')))
            elif name == "totalCount":
                count_alias = self.alias("n")
                count = (
                    f"(SELECT count(*) FROM {target.table} {count_alias} "
                    f"WHERE {' AND '.join(filters(count_alias))})::text"
                )
                outer.append((key, count))
            elif name == "pageInfo":
                info, needs_cursor, aggregated = self.page_info(
                    fnodes, size, x, conn_type, backward=backward, cursors=(has_after, has_before)
                )
                cursor_needed |= needs_cursor
                aggregates |= aggregated
                outer.append((key, info))
            elif name == "edges":
                edge_shape = Shape()
                edge, aud = self.edge(target, edge_type, fnodes, k, inner_joins, edge_shape, cursor)
                column = self.alias("e")
                middle.append(f"{edge} AS {column}")
                if aud is not None:
                    node_aud = aud if node_aud is None else f"concat_ws(';', {node_aud}, {aud})"
                aggregates = True
                outer.append((key, sql.json_array(f"string_agg({x}.{column}, ','{in_page}")))
                if edge_shape:
                    shape.items.append(("edges", key, edge_shape))
            else:
                raise Unsupported(f"{conn_type.name}.{name}")
        if len(outer) > MAX_KEYS:
            raise Unsupported("too many fields in one object")
        if cursor_needed:
            if cursor is None:
                raise Unsupported("a cursor of a text key")
            middle.append(f"{cursor} AS cur")
        if node_aud is not None:
            middle.append(f"{node_aud} AS a")
        columns = [f"{sql.json_object(outer)} AS j"]
        if node_aud is not None:
            columns.append(f"string_agg({x}.a, ';'{in_page} AS a")
        if not aggregates:
            columns.append("count(*) AS _rows")  # an aggregate: one row even for no rows
        limit = f"{size} + 1" if paged else size
        # the middle subquery keeps the page's order (a to-one join may be a hash join), and
        # a plain aggregate reads its input in that order
        lateral = (
            f"LEFT JOIN LATERAL (SELECT {', '.join(columns)} "
            f"FROM (SELECT {', '.join(middle) or 'NULL AS _'} FROM (SELECT * FROM {target.table} {k} "
            f"WHERE {' AND '.join(conditions)} ORDER BY {scan} LIMIT {limit}) {k} "
            f"{' '.join(inner_joins)} ORDER BY {order_by}) {x}) {sub} ON true"
        )
        return lateral, sub, node_aud is not None

    def after(
        self, keyset: Keyset, get_after: Getter, k: str, table: str, *, before: bool = False
    ) -> str:
        """Rows past an `after` cursor in the order's direction, or before a `before` one."""
        casts = {"datetime": "timestamptz", "uuid": "uuid", "int": "int", "text": "text"}
        values = []
        keys = keyset.columns[-1:] if keyset.by_reference else keyset.columns
        for index, (_column, kind) in enumerate(keys):

            def value(i: Inputs, n: int = index) -> Any:
                parsed = keyset.order.parse(get_after(i.variables))
                v = parsed[n]
                if isinstance(v, dt.datetime) and v.tzinfo is None:
                    raise Unsupported("a cursor time without offset")
                return v

            values.append(self.param(value, casts[kind]))
        if keyset.by_reference:
            # the cursor names a row (its id): its other keys are read in SQL, under RLS and
            # the tenant as the resolver path's scalar subqueries (store/pagination.py)
            r = self.alias("r")
            values = [
                f"(SELECT {key} FROM {table} {r} WHERE {r}.tenant_id = $1 AND "
                f"{r}.{keyset.columns[-1][0]} = {values[0]})"
                for key in keyset.sql(r)[:-1]
            ] + values
        columns = ", ".join(keyset.sql(k))
        op = "<" if keyset.descending != before else ">"
        return f"({columns}) {op} ({', '.join(values)})"

    def edge(
        self,
        target: TableType,
        edge_type: GraphQLObjectType,
        nodes: list[FieldNode],
        k: str,
        joins: list[str],
        shape: Shape,
        cursor: str | None,
    ) -> tuple[sql.Parts, str | None]:
        pairs: list[tuple[str, sql.Piece]] = []
        aud: str | None = None
        for key, fnodes in self.collector.fields(edge_type.name, nodes).items():
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
                fields = self.collector.fields(target.name, fnodes)
                expr, aud, inner = self.object(target, k, fields, node_shape)
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
        self,
        nodes: list[FieldNode],
        size: str,
        x: str,
        conn_type: GraphQLObjectType,
        *,
        backward: bool,
        cursors: tuple[bool, bool],  # after and before given
    ) -> tuple[sql.Parts, bool, bool]:
        """(JSON, whether it needs the rows' cursors, whether it aggregates the rows: a
        selection of constants alone does not, and makes no row over no rows)."""
        info_type = object_type(conn_type.fields["pageInfo"])
        pairs: list[tuple[str, sql.Piece]] = []
        cursor_needed = False
        aggregated = False
        for key, fnodes in self.collector.fields(info_type.name, nodes).items():
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
                    bounded = cursors[1] if backward else cursors[0]
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
