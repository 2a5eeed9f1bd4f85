"""Planning: a validated query operation becomes one SQL statement that builds its JSON.

Every root field is a LATERAL subquery of one statement; nested objects and connections are
LATERAL subqueries of their parent row. Each subquery yields its JSON (`j`) and, when its
subtree discloses personal data, the audit's `subject|field,field` items (`a`). Casbin is
asked here, once per plan: denied operations make the plan unsupported (the resolver path
answers with its error), field decisions become a column, a SQL mask or NULL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode, GraphQLObjectType, GraphQLSchema, OperationDefinitionNode

from compiler import sql
from compiler.catalog import ROOTS, TYPES, Children, Consents, Keyset, Root, TableType, ToOne
from compiler.collect import Collector, Fields, Getter, Unsupported, argument, object_type
from core.ids import decode_id
from policies.redaction import Decision
from store.pagination import page_request

Param = Callable[["Inputs"], Any]
MAX_KEYS = 50  # json_build_object takes at most 100 arguments


@dataclass
class Inputs:
    variables: dict[str, Any]
    default_page_size: int
    max_page_size: int


@dataclass
class Shape:
    """Where a result holds withheld fields: walked to report `extensions.redactions`."""

    items: list[tuple[str, str, Any]] = field(default_factory=list)  # (kind, key, detail)

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass
class RootPlan:
    key: str
    nullable: bool
    typename: str | None = None  # `__typename` at the root: a constant, no SQL
    audited: bool = False
    shape: Shape | None = None
    # the caller may not read this root: the answer is this one FORBIDDEN error
    denied: tuple[str, list[FieldNode]] | None = None


@dataclass
class Plan:
    sql: str
    params: list[Param]
    checks: list[Callable[[Inputs], None]]
    roots: list[RootPlan]


class Planner:
    def __init__(
        self,
        schema: GraphQLSchema,
        collector: Collector,
        authz: Any,
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.collector = collector
        self.authz = authz
        self.variables = variables  # only their shape (null or not, booleans) shapes the plan
        self.params: list[Param] = []
        # request-time conditions for the plan to apply (else the resolver path answers)
        self.checks: list[Callable[[Inputs], None]] = []
        self.aliases = 0

    # -- helpers -------------------------------------------------------------------------

    def param(self, fn: Param, cast: str) -> str:
        self.params.append(fn)
        return f"${len(self.params) + 1}::{cast}"  # $1 is the tenant

    def alias(self, prefix: str) -> str:
        self.aliases += 1
        return f"{prefix}{self.aliases}"

    def denied(self, permission: tuple[str, str] | None) -> str | None:
        """The FORBIDDEN message of `Can` (schema/permissions.py) if denied, else None."""
        if permission is None or self.authz.can(*permission):
            return None
        obj, act = permission
        return f"You may not {act} {obj}."

    # -- operation -----------------------------------------------------------------------

    def operation(self, op: OperationDefinitionNode) -> Plan:
        query_type = self.schema.query_type
        assert query_type is not None
        roots: list[RootPlan] = []
        columns: list[str] = []
        joins: list[str] = []
        for key, nodes in self.collector.fields(query_type.name, [op.selection_set]).items():
            name = nodes[0].name.value
            if name == "__typename":
                roots.append(RootPlan(key, nullable=False, typename=query_type.name))
                continue
            root = ROOTS.get(name)
            if root is None:
                raise Unsupported(f"root field {name}")
            message = self.denied(root.permission)
            if message is not None:
                # graphql-core reports the first failing non-null root field only: the
                # answer is known when it comes first
                if any(r.typename is None for r in roots):
                    raise Unsupported("a denied root field after another")
                return Plan(
                    sql="",
                    params=[],
                    checks=[],
                    roots=[RootPlan(key, nullable=False, denied=(message, nodes))],
                )
            field_def = query_type.fields[name]
            shape = Shape()
            lateral, alias, audited = self.root(root, field_def, nodes, shape)
            joins.append(lateral)
            columns.append(f"{alias}.j::text")
            columns.append(f"{alias}.a" if audited else "NULL")
            nullable = not str(field_def.type).endswith("!")
            roots.append(RootPlan(key, nullable, audited=audited, shape=shape or None))
        text = f"SELECT {', '.join(columns) or 'NULL'} FROM (SELECT 1) AS _root " + " ".join(joins)
        return Plan(sql=text, params=self.params, checks=self.checks, roots=roots)

    def root(
        self, root: Root, field_def: Any, nodes: list[FieldNode], shape: Shape
    ) -> tuple[str, str, bool]:
        target = TYPES[root.target]
        if root.by_id:
            get_id = argument(field_def, nodes[0], "id")
            type_name = root.target
            id_param = self.param(lambda i: decode_id(get_id(i.variables), type_name), "uuid")
            t = self.alias("t")
            fields = self.collector.fields(target.name, nodes)
            json, aud, inner = self.object(target, t, fields, shape)
            alias = self.alias("r")
            lateral = (
                f"LEFT JOIN LATERAL (SELECT {json} AS j, {aud or 'NULL'} AS a "
                f"FROM {target.table} {t} {' '.join(inner)} "
                f"WHERE {t}.tenant_id = $1 AND {t}.id = {id_param}) {alias} ON true"
            )
            return lateral, alias, aud is not None
        assert root.keyset is not None
        where: list[tuple[str, str]] = []
        for arg_name, column in root.filters.items():
            get = argument(field_def, nodes[0], arg_name)
            if get(self.variables) is not None:
                where.append((column, self.param(lambda i, g=get: g(i.variables), "text")))
        if "search" in field_def.args:
            get_search = argument(field_def, nodes[0], "search")

            def no_search(i: Inputs, g: Getter = get_search) -> None:
                value = g(i.variables)
                if value and value.strip():
                    raise Unsupported("search")

            self.checks.append(no_search)
        return self.connection(
            target, root.keyset, field_def, nodes, parent=None, where=where, shape=shape
        )

    # -- objects -------------------------------------------------------------------------

    def object(
        self, t: TableType, alias: str, fields: Fields, shape: Shape
    ) -> tuple[str, str | None, list[str]]:
        """(JSON expression, audit expression or None, LATERAL joins) of one row."""
        if len(fields) > MAX_KEYS:
            raise Unsupported("too many fields in one object")
        pairs: list[str] = []
        joins: list[str] = []
        audited: dict[str, str] = {}  # GraphQL field -> column, disclosed values
        child_auds: list[str] = []
        graphql_type = self.schema.get_type(t.name)
        assert isinstance(graphql_type, GraphQLObjectType)
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                expr = sql.literal(t.name)
            elif name in t.scalars:
                column, kind = t.scalars[name]
                expr = self.scalar(t, f"{alias}.{column}", kind)
            elif name in t.personal:
                expr = self.personal(t, alias, key, name, audited, shape)
            elif name in t.relations:
                expr, aud = self.relation(
                    t, alias, t.relations[name], graphql_type.fields[name], nodes, joins, shape, key
                )
                if aud is not None:
                    child_auds.append(aud)
            else:
                raise Unsupported(f"{t.name}.{name}")
            pairs.append(f"{sql.literal(key)}, {expr}")
        json = f"json_build_object({', '.join(pairs)})"
        auds = child_auds
        if audited and t.subject_column:
            flags = ", ".join(
                f"CASE WHEN {alias}.{col} IS NOT NULL THEN {sql.literal(name)} END"
                for name, col in audited.items()
            )
            auds = [f"{alias}.{t.subject_column}::text || '|' || concat_ws(',', {flags})", *auds]
        aud = f"concat_ws(';', {', '.join(auds)})" if auds else None
        return json, aud, joins

    def scalar(self, t: TableType, column: str, kind: str) -> str:
        if kind == "global_id":
            return sql.global_id(t.name, column)
        if kind == "enum":
            return sql.enum_name(column)
        if kind == "datetime":
            return sql.iso(column)
        return column

    def personal(
        self, t: TableType, alias: str, key: str, name: str, audited: dict[str, str], shape: Shape
    ) -> str:
        column, category, kind = t.personal[name]
        decision = self.authz.field_decision(f"{t.name}.{name}")
        ref = f"{alias}.{column}"
        if decision is Decision.FULL:
            audited.setdefault(name, column)
            return self.scalar(t, ref, kind)
        if decision is Decision.MASKED and kind == "plain":
            audited.setdefault(name, column)
            return sql.mask(category, ref)
        if decision is Decision.MASKED and not t.nullable(column):
            # a value with no partial form (a time, an enum) is withheld, as if redacted
            pass
        elif decision is Decision.MASKED:
            raise Unsupported("a masked value with no partial form that may be null")
        shape.items.append(("redacted", key, category))
        return "NULL"

    def relation(
        self,
        t: TableType,
        alias: str,
        rel: ToOne | Children,
        field_def: Any,
        nodes: list[FieldNode],
        joins: list[str],
        shape: Shape,
        key: str,
    ) -> tuple[str, str | None]:
        message = self.denied(rel.permission)
        if message is not None:
            # null and a FORBIDDEN error wherever the parent is in the result
            shape.items.append(("denied", key, (message, nodes)))
            return "NULL", None
        if isinstance(rel, Consents):
            return self.consents(rel, alias, field_def, nodes, joins, shape, key)
        target = TYPES[rel.target]
        child_shape = Shape()
        if isinstance(rel, ToOne):
            fields = self.collector.fields(target.name, nodes)
            o = self.alias("o")
            json, aud, inner = self.object(target, o, fields, child_shape)
            sub = self.alias("l")
            joins.append(
                f"LEFT JOIN LATERAL (SELECT {json} AS j, {aud or 'NULL'} AS a "
                f"FROM {target.table} {o} {' '.join(inner)} "
                f"WHERE {o}.tenant_id = $1 AND {o}.id = {alias}.{rel.column}) {sub} ON true"
            )
            if child_shape:
                shape.items.append(("object", key, child_shape))
            return f"{sub}.j", (f"{sub}.a" if aud is not None else None)
        lateral, sub, audited = self.connection(
            target,
            rel.keyset,
            field_def,
            nodes,
            parent=(f"{alias}.id", rel.parent_column),
            where=[],
            shape=child_shape,
        )
        joins.append(lateral)
        if child_shape:
            shape.items.append(("connection", key, child_shape))
        return f"{sub}.j", (f"{sub}.a" if audited else None)

    def consents(
        self,
        rel: Consents,
        alias: str,
        field_def: Any,
        nodes: list[FieldNode],
        joins: list[str],
        shape: Shape,
        key: str,
    ) -> tuple[str, str | None]:
        """A contact's current consent per purpose: the latest event of each, or NOT_GIVEN."""
        consent_type = object_type(field_def)
        ev, p, sub = self.alias("ev"), self.alias("p"), self.alias("l")
        pairs: list[str] = []
        audited: dict[str, str] = {}
        item_shape = Shape()
        event = f"{ev}.id IS NOT NULL"
        for k, fnodes in self.collector.fields(consent_type.name, nodes).items():
            name = fnodes[0].name.value
            if name == "__typename":
                expr = sql.literal(consent_type.name)
            elif name == "purpose":
                expr = sql.enum_name(f"{p}.purpose")
            elif name == "source":
                expr = sql.enum_name(f"{ev}.source")
            elif name == "policyVersion":
                expr = f"{ev}.policy_version"
            elif name in ("state", "granted", "changedAt"):
                values = {
                    "state": (f"CASE WHEN {event} THEN upper({ev}.action) ELSE 'NOT_GIVEN' END"),
                    "granted": f"coalesce({ev}.action = 'granted', false)",
                    "changedAt": sql.iso(f"{ev}.occurred_at"),
                }
                decision = self.authz.field_decision(f"{consent_type.name}.{name}")
                if decision is Decision.FULL:
                    expr = values[name]
                    # a read is audited when a value is disclosed: changedAt only with an event
                    audited.setdefault(name, event if name == "changedAt" else "true")
                elif decision is Decision.MASKED and name == "changedAt":
                    raise Unsupported("a masked value with no partial form that may be null")
                else:  # withheld (an enum, a boolean: no partial form)
                    category = "user.privacy_preferences"
                    item_shape.items.append(("redacted", k, category))
                    expr = "NULL"
            else:
                raise Unsupported(f"Consent.{name}")
            pairs.append(f"{sql.literal(k)}, {expr}")
        if len(pairs) > MAX_KEYS:
            raise Unsupported("too many fields in one object")
        aud = None
        if audited:
            flags = ", ".join(
                f"CASE WHEN {cond} THEN {sql.literal(name)} END" for name, cond in audited.items()
            )
            aud = f"{alias}.id::text || '|' || concat_ws(',', {flags})"
        purposes = ", ".join(f"({sql.literal(v)}, {n})" for n, v in enumerate(rel.purposes))
        joins.append(
            f"LEFT JOIN LATERAL (SELECT json_agg(json_build_object({', '.join(pairs)}) "
            f"ORDER BY {p}.n) AS j"
            + (f", string_agg({aud}, ';' ORDER BY {p}.n) AS a" if aud else "")
            + f" FROM (VALUES {purposes}) AS {p}(purpose, n) "
            f"LEFT JOIN LATERAL (SELECT * FROM consent_events {ev} WHERE {ev}.tenant_id = $1 "
            f"AND {ev}.contact_id = {alias}.id AND {ev}.purpose = {p}.purpose "
            f"ORDER BY {ev}.occurred_at DESC, {ev}.id DESC LIMIT 1) {ev} ON true) {sub} ON true"
        )
        if item_shape:
            shape.items.append(("list", key, item_shape))
        return f"{sub}.j", (f"{sub}.a" if aud else None)

    # -- connections ---------------------------------------------------------------------

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
    ) -> tuple[str, str, bool]:
        """A LATERAL subquery with the connection's JSON (and audit) of one page."""
        conn_type = object_type(field_def)
        get_first = argument(field_def, nodes[0], "first")
        get_after = argument(field_def, nodes[0], "after")
        order = keyset.order

        def first(i: Inputs) -> int:
            req = page_request(
                get_first(i.variables),
                None,
                order,
                default=i.default_page_size,
                maximum=i.max_page_size,
            )
            return req.first

        size = self.param(first, "int")
        k, x, sub = self.alias("k"), self.alias("x"), self.alias("c")

        def filters(alias: str) -> list[str]:
            out = [f"{alias}.tenant_id = $1", *[f"{alias}.{c} = {p}" for c, p in where]]
            if parent is not None:
                out.append(f"{alias}.{parent[1]} = {parent[0]}")
            return out

        conditions = filters(k)
        has_after = get_after(self.variables) is not None
        if has_after:
            conditions.append(self.after(keyset, get_after, k))
        direction = " DESC" if keyset.descending else ""
        order_by = ", ".join(f"{k}.{c}{direction}" for c, _ in keyset.columns)
        middle: list[str] = [f"row_number() OVER (ORDER BY {order_by}) AS _n"]
        inner_joins: list[str] = []
        outer: list[str] = []
        cursor_needed = False
        node_aud: str | None = None
        edge_type = object_type(conn_type.fields["edges"])
        cursor = sql.cursor([(kind, f"{k}.{c}") for c, kind in keyset.columns])
        for key, fnodes in self.collector.fields(conn_type.name, nodes).items():
            name = fnodes[0].name.value
            if name == "__typename":
                outer.append(f"{sql.literal(key)}, {sql.literal(conn_type.name)}")
            elif name == "totalCount":
                count_alias = self.alias("n")
                outer.append(
                    f"{sql.literal(key)}, (SELECT count(*) FROM {target.table} {count_alias} "
                    f"WHERE {' AND '.join(filters(count_alias))})"
                )
            elif name == "pageInfo":
                info, needs_cursor = self.page_info(fnodes, size, x, has_after, conn_type)
                cursor_needed |= needs_cursor
                outer.append(f"{sql.literal(key)}, {info}")
            elif name == "edges":
                edge_shape = Shape()
                edge, aud = self.edge(target, edge_type, fnodes, k, inner_joins, edge_shape, cursor)
                column = self.alias("e")
                middle.append(f"{edge} AS {column}")
                if aud is not None:
                    node_aud = aud if node_aud is None else f"concat_ws(';', {node_aud}, {aud})"
                outer.append(
                    f"{sql.literal(key)}, coalesce(json_agg({x}.{column} ORDER BY {x}._n) "
                    f"FILTER (WHERE {x}._n <= {size}), '[]'::json)"
                )
                if edge_shape:
                    shape.items.append(("edges", key, edge_shape))
            else:
                raise Unsupported(f"{conn_type.name}.{name}")
        if len(outer) > MAX_KEYS:
            raise Unsupported("too many fields in one object")
        if cursor_needed:
            middle.append(f"{cursor} AS cur")
        if node_aud is not None:
            middle.append(f"{node_aud} AS a")
        aud_column = (
            f", string_agg({x}.a, ';' ORDER BY {x}._n) FILTER (WHERE {x}._n <= {size}) AS a"
            if node_aud is not None
            else ""
        )
        lateral = (
            # count(*) makes it an aggregate: one row even for an empty page
            f"LEFT JOIN LATERAL (SELECT json_build_object({', '.join(outer)}) AS j, "
            f"count(*) AS _rows{aud_column} "
            f"FROM (SELECT {', '.join(middle)} FROM (SELECT * FROM {target.table} {k} "
            f"WHERE {' AND '.join(conditions)} ORDER BY {order_by} LIMIT {size} + 1) {k} "
            f"{' '.join(inner_joins)}) {x}) {sub} ON true"
        )
        return lateral, sub, node_aud is not None

    def after(self, keyset: Keyset, get_after: Getter, k: str) -> str:
        casts = {"datetime": "timestamptz", "uuid": "uuid", "int": "int"}
        values = []
        for index, (_column, kind) in enumerate(keyset.columns):

            def value(i: Inputs, n: int = index) -> Any:
                parsed = keyset.order.parse(get_after(i.variables))
                v = parsed[n]
                if isinstance(v, dt.datetime) and v.tzinfo is None:
                    raise Unsupported("a cursor time without offset")
                return v

            values.append(self.param(value, casts[kind]))
        columns = ", ".join(f"{k}.{c}" for c, _ in keyset.columns)
        op = "<" if keyset.descending else ">"
        return f"({columns}) {op} ({', '.join(values)})"

    def edge(
        self,
        target: TableType,
        edge_type: GraphQLObjectType,
        nodes: list[FieldNode],
        k: str,
        joins: list[str],
        shape: Shape,
        cursor: str,
    ) -> tuple[str, str | None]:
        pairs = []
        aud: str | None = None
        for key, fnodes in self.collector.fields(edge_type.name, nodes).items():
            name = fnodes[0].name.value
            if name == "__typename":
                expr = sql.literal(edge_type.name)
            elif name == "cursor":
                expr = cursor
            elif name == "node":
                node_shape = Shape()
                fields = self.collector.fields(target.name, fnodes)
                expr, aud, inner = self.object(target, k, fields, node_shape)
                joins.extend(inner)
                if node_shape:
                    shape.items.append(("object", key, node_shape))
            else:
                raise Unsupported(f"{edge_type.name}.{name}")
            pairs.append(f"{sql.literal(key)}, {expr}")
        if len(pairs) > MAX_KEYS:
            raise Unsupported("too many fields in one object")
        return f"json_build_object({', '.join(pairs)})", aud

    def page_info(
        self,
        nodes: list[FieldNode],
        size: str,
        x: str,
        has_after: bool,
        conn_type: GraphQLObjectType,
    ) -> tuple[str, bool]:
        info_type = object_type(conn_type.fields["pageInfo"])
        pairs = []
        cursor_needed = False
        for key, fnodes in self.collector.fields(info_type.name, nodes).items():
            name = fnodes[0].name.value
            if name == "__typename":
                expr = sql.literal(info_type.name)
            elif name == "hasNextPage":
                expr = f"count(*) > {size}"
            elif name == "hasPreviousPage":
                expr = "true" if has_after else "false"
            elif name in ("startCursor", "endCursor"):
                cursor_needed = True
                direction = "" if name == "startCursor" else " DESC"
                expr = (
                    f"(array_agg({x}.cur ORDER BY {x}._n{direction}) "
                    f"FILTER (WHERE {x}._n <= {size}))[1]"
                )
            else:
                raise Unsupported(f"PageInfo.{name}")
            pairs.append(f"{sql.literal(key)}, {expr}")
        return f"json_build_object({', '.join(pairs)})", cursor_needed
