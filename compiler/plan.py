"""Planning: a validated query operation becomes one SQL statement that builds its JSON.

Every root field is a LATERAL subquery of one statement; nested objects and connections are
LATERAL subqueries of their parent row. Each subquery yields its JSON (`j`) and, when its
subtree discloses personal data, the audit's `subject|field,field` items (`a`). Casbin is
asked here, once per plan: a denied field becomes null and a FORBIDDEN error (a denied
root the whole answer), field decisions become a column, a SQL mask or NULL.

Plain functions over one `PlanContext` (compiler/context.py): the roots here, one row in
compiler/objects.py, connections in compiler/connections.py and pages.py, `node(id)` in
compiler/node.py, current consents in compiler/consents.py, bad page arguments written in
the query and what they null in compiler/failures.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
)
from sqlalchemy import literal_column

from compiler import sql
from compiler.catalog import Catalog, Root, TableType, installed
from compiler.collect import Collector, Fields, Getter, Unsupported, argument
from compiler.connections import connection
from compiler.context import Authz, PlanContext
from compiler.locales import requested_params
from compiler.node import node_root
from compiler.objects import object_json
from compiler.shapes import Inputs, Param, Plan, RootPlan, Shape
from compiler.viewer import viewer_json
from core.auth import REFUSALS, Principal
from core.errors import ApiError, Forbidden, Unauthenticated
from core.ids import decode_id
from core.preview_links import REFUSED as PREVIEW_REFUSED
from store.contacts import search_matches, search_pattern


def plan_context(
    schema: GraphQLSchema,
    catalog: Catalog,
    collector: Collector,
    authz: Authz,
    variables: dict[str, Any],
    principal: Principal | None = None,
    pages: tuple[int, int] | None = None,
) -> PlanContext:
    """A fresh context for one operation's plan."""
    return PlanContext(schema, catalog, collector, authz, variables, object_json, principal, pages)


def plan_operation(ctx: PlanContext, op: OperationDefinitionNode) -> Plan:
    """One statement answering every root field of `op` (Unsupported: the resolver path)."""
    query_type = ctx.schema.query_type
    assert query_type is not None
    roots: list[RootPlan] = []
    columns: list[str] = []
    joins: list[str] = []
    selected = ctx.collector.fields(query_type.name, [op.selection_set])
    for key, nodes in selected.items():
        roots.append(_root_field(ctx, query_type, key, nodes, columns, joins))
    if any(r.denied and not r.nullable for r in roots) and joins:
        # a failing non-null root cancels its siblings: what they reported by then
        # depends on timing
        raise Unsupported("a denied root field beside others")
    # $1 (the tenant) is named even when no root uses it, so that it has a type
    source = "(SELECT $1::uuid AS _tenant) AS _root"
    text = f"SELECT {', '.join(columns) or 'NULL'} FROM {source} " + " ".join(joins)
    return Plan(text, ctx.params, ctx.checks, roots, ctx.choices)


def _root_field(
    ctx: PlanContext,
    query_type: GraphQLObjectType,
    key: str,
    nodes: list[FieldNode],
    columns: list[str],
    joins: list[str],
) -> RootPlan:
    """One root field: its columns (JSON, audit) and LATERAL join, and how to read them."""
    name = nodes[0].name.value
    if name == "__typename":
        return RootPlan(key, nullable=False, typename=query_type.name)
    root = ctx.catalog.roots.get(name)
    if root is None and name not in ("viewer", "node"):
        raise Unsupported(f"root field {name}")
    field_def = query_type.fields[name]
    nullable = not str(field_def.type).endswith("!")
    refused = refusal(ctx, root.permission if root is not None else None)
    if refused is not None:
        # no SQL: null and the error at its path (compiler/run.py orders the errors)
        return RootPlan(key, nullable, denied=(refused, nodes))
    if name == "node":
        node_joins, node_columns, audited, shapes = node_root(ctx, field_def, key, nodes)
        joins.extend(node_joins)
        columns.extend(node_columns)
        return RootPlan(key, nullable, audited=audited, lookup=nodes, shapes=shapes)
    if root is None:  # `viewer`: the caller's identity
        alias = ctx.alias("r")
        json = viewer_json(ctx.collector.fields("Viewer", nodes), ctx.param)
        joins.append(f"LEFT JOIN LATERAL (SELECT {json} AS j) {alias} ON true")
        columns.extend([f"{alias}.j::text", "NULL"])
        return RootPlan(key, nullable)
    shape = Shape()
    ctx.listing = None if root.by_id else key
    if root.by_id:
        lateral, alias, audited = _by_id(ctx, root, field_def, key, nodes, shape)
    else:
        lateral, alias, audited = _root_list(ctx, root, field_def, nodes, shape)
    ctx.listing = None
    if shape.fails and not nullable:
        raise Unsupported("a failing field under a non-null root")
    joins.append(lateral)
    columns.append(f"{alias}.j::text")
    columns.append(f"{alias}.a" if audited else "NULL")
    lookup = nodes if root.by_id and nullable else None
    return RootPlan(key, nullable, audited=audited, shape=shape or None, lookup=lookup, nodes=nodes)


def refusal(ctx: PlanContext, permission: tuple[str, str] | None) -> Callable[[], ApiError] | None:
    """The error a root field's `Can` raises (schema/permissions.py `require`), if any."""
    p = ctx.principal
    if p is not None and not p.authenticated:
        if p.refusal in PREVIEW_REFUSED:
            return PREVIEW_REFUSED[p.refusal]
        if p.refusal is not None and p.refusal in REFUSALS:
            text, reason = REFUSALS[p.refusal], f"KEY_{p.refusal.upper()}"
            return lambda: Unauthenticated(text, reason=reason)
        if p.rejected:
            return lambda: Unauthenticated("The bearer token is invalid or has been revoked.")
        return Unauthenticated
    denied = ctx.denied(permission)
    if denied is None:
        return None
    return lambda: Forbidden(denied)


def _by_id(
    ctx: PlanContext,
    root: Root,
    field_def: GraphQLField,
    key: str,
    nodes: list[FieldNode],
    shape: Shape,
) -> tuple[str, str, bool]:
    """(LATERAL join, alias, audited) of a lookup by global ID."""
    target = ctx.seen(ctx.catalog.types[root.target])
    if target.localized:
        target = replace(target, locale=requested_params(ctx, field_def, nodes))
    elif any(
        argument(field_def, nodes[0], a)(ctx.variables) is not None
        for a in field_def.args
        if a != "id"
    ):
        raise Unsupported(f"an argument of {root.target} besides its id")
    get_id = argument(field_def, nodes[0], "id")

    def row_id(i: Inputs, g: Getter = get_id, type_name: str = root.target) -> Any:
        try:
            return decode_id(g(i.variables), type_name)
        except ApiError as exc:
            # the resolver's error at this root's path; the statement finds no row
            i.failed[key] = exc
            return None

    id_param = ctx.param(row_id, "uuid")
    t = ctx.alias("t")
    fields = ctx.collector.fields(target.name, nodes)
    json, aud, inner = object_json(ctx, target, t, fields, shape)
    alias = ctx.alias("r")
    lateral = (
        f"LEFT JOIN LATERAL (SELECT {json} AS j, {aud or 'NULL'} AS a "
        f"FROM {target.table} {t} {' '.join(inner)} "
        f"WHERE {t}.tenant_id = $1 AND {t}.id = {id_param}) {alias} ON true"
    )
    return lateral, alias, aud is not None


def _root_list(
    ctx: PlanContext, root: Root, field_def: GraphQLField, nodes: list[FieldNode], shape: Shape
) -> tuple[str, str, bool]:
    """(LATERAL join, alias, audited) of a top-level connection, with its filters."""
    assert root.keyset is not None
    target = ctx.seen(ctx.catalog.types[root.target])
    where: list[tuple[str, str]] = []
    for arg_name, column in root.filters.items():
        get = argument(field_def, nodes[0], arg_name)
        if get(ctx.variables) is not None:

            def value(i: Inputs, g: Getter = get) -> Any:
                return g(i.variables)

            where.append((column, ctx.param(value, "text")))
    if root.searchable:
        target = searched(ctx, target, argument(field_def, nodes[0], "search"), root)
    return connection(
        ctx,
        target,
        root.keyset,
        field_def,
        nodes,
        parent=None,
        where=where,
        shape=shape,
        handled=root.filters.keys(),
    )


def searched(ctx: PlanContext, target: TableType, get_search: Getter, root: Root) -> TableType:
    """The rows matching `search`, as the resolver path matches them (store/contacts.py):
    only columns the caller may read in full; none is FORBIDDEN (the resolver path)."""
    columns = [column for obj, column in root.searchable if ctx.authz.can(obj, "read")]

    def pattern(i: Inputs, g: Getter = get_search) -> str | None:
        found = search_pattern(g(i.variables))
        if found is not None and not columns:
            raise Unsupported("search without a readable field")
        return found

    p = ctx.param(pattern, "text")
    s = ctx.alias("s")
    where = f"{p} IS NULL"
    if columns:
        matches = search_matches([literal_column(f"{s}.{c}") for c in columns], literal_column(p))
        where += f" OR {sql.render(matches)}"
    return replace(target, table=f"(SELECT * FROM {target.table} {s} WHERE {where})")


class Planner:
    """The planning functions over one context, as an object: compiler/writes.py plans a
    mutation's payload with it."""

    def __init__(
        self,
        schema: GraphQLSchema,
        collector: Collector,
        authz: Authz,
        variables: dict[str, Any],
        principal: Principal | None = None,
        pages: tuple[int, int] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.ctx = plan_context(
            schema, catalog or installed(), collector, authz, variables, principal, pages
        )
        self.schema = schema
        self.collector = collector

    @property
    def params(self) -> list[Param]:
        return self.ctx.params

    @property
    def checks(self) -> list[Callable[[Inputs], None]]:
        return self.ctx.checks

    def denied(self, permission: tuple[str, str] | None) -> str | None:
        return self.ctx.denied(permission)

    def object(
        self, t: TableType, alias: str, fields: Fields, shape: Shape
    ) -> tuple[sql.Parts, str | None, list[str]]:
        return object_json(self.ctx, t, alias, fields, shape)

    def operation(self, op: OperationDefinitionNode) -> Plan:
        return plan_operation(self.ctx, op)
