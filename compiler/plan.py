"""Planning: a validated query operation becomes one SQL statement that builds its JSON.

Every root field is a LATERAL subquery of one statement; nested objects and connections are
LATERAL subqueries of their parent row. Each subquery yields its JSON (`j`) and, when its
subtree discloses personal data, the audit's `subject|field,field` items (`a`). Casbin is
asked here, once per plan: a denied field becomes null and a FORBIDDEN error (a denied
root the whole answer), field decisions become a column, a SQL mask or NULL. Connections
are planned in compiler/connections.py, current consents in compiler/consents.py, bad page
arguments written in the query and what they null in compiler/failures.py.

Over 300 lines on purpose: the operation, its roots and the objects under them share one
parameter list and one alias counter; connections, consents, orders and typed bodies live
in modules of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from graphql import FieldNode, GraphQLObjectType, GraphQLSchema, OperationDefinitionNode
from sqlalchemy import literal_column

from compiler import bodies, sql
from compiler.audience import NARROWED, Audience
from compiler.catalog import Catalog, Children, Consents, Root, TableType, ToOne, installed
from compiler.collect import Collector, Fields, Getter, Unsupported, argument
from compiler.connections import ConnectionPlanning
from compiler.consents import ConsentPlanning
from compiler.failures import FailurePlanning
from compiler.node import NodePlanning
from compiler.shapes import MAX_KEYS, Inputs, Param, Plan, RootPlan, Shape
from compiler.viewer import viewer_json
from core.auth import REFUSALS, Principal
from core.errors import ApiError, Forbidden, Unauthenticated
from core.ids import decode_id
from policies.redaction import Decision
from store.contacts import search_matches, search_pattern


class Planner(ConnectionPlanning, ConsentPlanning, FailurePlanning, NodePlanning):
    """One operation's statement, its parameters and how to read its row."""

    def __init__(
        self,
        schema: GraphQLSchema,
        collector: Collector,
        authz: Any,
        variables: dict[str, Any],
        principal: Principal | None = None,
        pages: tuple[int, int] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.schema = schema
        self.catalog = catalog or installed()
        # the default and maximum page size: bad page arguments written in the query are
        # known while planning (compiler/failures.py)
        self.pages = pages
        self.principal = principal
        kind = principal.kind if principal is not None else None
        self.audience = Audience(kind, self.param) if kind in NARROWED else None
        self.collector = collector
        self.authz = authz
        self.variables = variables  # only their shape (null or not, booleans) shapes the plan
        self.params: list[Param] = []
        # request-time conditions for the plan to apply (else the resolver path answers)
        self.checks: list[Callable[[Inputs], None]] = []
        self.aliases = 0
        # the root list being planned, and how deep in relations: a bad argument of the
        # root list itself is an error the plan can answer (compiler/cache.py)
        self.listing: str | None = None
        self.nested = 0

    # -- helpers -------------------------------------------------------------------------

    def param(self, fn: Param, cast: str) -> str:
        if self.listing is not None and self.nested == 0:
            fn = _own_argument(fn, self.listing)
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

    def seen(self, t: TableType) -> TableType:
        """`t` as this caller may see it: a widget key or visitor reads fewer rows."""
        if self.audience is None:
            return t
        return replace(t, table=self.audience.table(t.table))

    def refused(self, permission: tuple[str, str] | None) -> Callable[[], ApiError] | None:
        """The error a root field's `Can` raises (schema/permissions.py `require`), if any."""
        p = self.principal
        if p is not None and not p.authenticated:
            if p.refusal is not None and p.refusal in REFUSALS:
                text, reason = REFUSALS[p.refusal], f"KEY_{p.refusal.upper()}"
                return lambda: Unauthenticated(text, reason=reason)
            if p.rejected:
                return lambda: Unauthenticated("The bearer token is invalid or has been revoked.")
            return Unauthenticated
        denied = self.denied(permission)
        if denied is None:
            return None
        return lambda: Forbidden(denied)

    # -- operation -----------------------------------------------------------------------

    def operation(self, op: OperationDefinitionNode) -> Plan:
        query_type = self.schema.query_type
        assert query_type is not None
        roots: list[RootPlan] = []
        columns: list[str] = []
        joins: list[str] = []
        selected = self.collector.fields(query_type.name, [op.selection_set])
        for key, nodes in selected.items():
            name = nodes[0].name.value
            if name == "__typename":
                roots.append(RootPlan(key, nullable=False, typename=query_type.name))
                continue
            root = self.catalog.roots.get(name)
            if root is None and name not in ("viewer", "node"):
                raise Unsupported(f"root field {name}")
            field_def = query_type.fields[name]
            nullable = not str(field_def.type).endswith("!")
            refused = self.refused(root.permission if root is not None else None)
            if refused is not None:
                # no SQL: null and the error at its path (compiler/run.py orders the errors)
                roots.append(RootPlan(key, nullable, denied=(refused, nodes)))
                continue
            if name == "node":
                node_joins, node_columns, audited, shapes = self.node(field_def, key, nodes)
                joins.extend(node_joins)
                columns.extend(node_columns)
                roots.append(RootPlan(key, nullable, audited=audited, lookup=nodes, shapes=shapes))
                continue
            if root is None:  # `viewer`: the caller's identity
                alias = self.alias("r")
                json = viewer_json(self.collector.fields("Viewer", nodes), self.param)
                joins.append(f"LEFT JOIN LATERAL (SELECT {json} AS j) {alias} ON true")
                columns.extend([f"{alias}.j::text", "NULL"])
                roots.append(RootPlan(key, nullable))
                continue
            shape = Shape()
            self.listing = None if root.by_id else key
            lateral, alias, audited = self.root(root, field_def, key, nodes, shape)
            self.listing = None
            if shape.fails and not nullable:
                raise Unsupported("a failing field under a non-null root")
            joins.append(lateral)
            columns.append(f"{alias}.j::text")
            columns.append(f"{alias}.a" if audited else "NULL")
            lookup = nodes if root.by_id and nullable else None
            roots.append(
                RootPlan(
                    key, nullable, audited=audited, shape=shape or None, lookup=lookup, nodes=nodes
                )
            )
        if any(r.denied and not r.nullable for r in roots) and joins:
            # a failing non-null root cancels its siblings: what they reported by then
            # depends on timing
            raise Unsupported("a denied root field beside others")
        # $1 (the tenant) is named even when no root uses it, so that it has a type
        source = "(SELECT $1::uuid AS _tenant) AS _root"
        text = f"SELECT {', '.join(columns) or 'NULL'} FROM {source} " + " ".join(joins)
        return Plan(sql=text, params=self.params, checks=self.checks, roots=roots)

    def root(
        self, root: Root, field_def: Any, key: str, nodes: list[FieldNode], shape: Shape
    ) -> tuple[str, str, bool]:
        target = self.seen(self.catalog.types[root.target])
        if root.by_id:
            get_id = argument(field_def, nodes[0], "id")

            def row_id(i: Inputs, g: Getter = get_id, type_name: str = root.target) -> Any:
                try:
                    return decode_id(g(i.variables), type_name)
                except ApiError as exc:
                    # the resolver's error at this root's path; the statement finds no row
                    i.failed[key] = exc
                    return None

            id_param = self.param(row_id, "uuid")
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

                def value(i: Inputs, g: Getter = get) -> Any:
                    return g(i.variables)

                where.append((column, self.param(value, "text")))
        if root.searchable:
            target = self.searched(target, argument(field_def, nodes[0], "search"), root)
        return self.connection(
            target,
            root.keyset,
            field_def,
            nodes,
            parent=None,
            where=where,
            shape=shape,
            handled=root.filters.keys(),
        )

    def searched(self, target: TableType, get_search: Getter, root: Root) -> TableType:
        """The rows matching `search`, as the resolver path matches them (store/contacts.py):
        only columns the caller may read in full; none is FORBIDDEN (the resolver path)."""
        columns = [column for obj, column in root.searchable if self.authz.can(obj, "read")]

        def pattern(i: Inputs, g: Getter = get_search) -> str | None:
            found = search_pattern(g(i.variables))
            if found is not None and not columns:
                raise Unsupported("search without a readable field")
            return found

        p = self.param(pattern, "text")
        s = self.alias("s")
        where = f"{p} IS NULL"
        if columns:
            matches = search_matches(
                [literal_column(f"{s}.{c}") for c in columns], literal_column(p)
            )
            where += f" OR {sql.render(matches)}"
        return replace(target, table=f"(SELECT * FROM {target.table} {s} WHERE {where})")

    # -- objects -------------------------------------------------------------------------

    def object(
        self, t: TableType, alias: str, fields: Fields, shape: Shape
    ) -> tuple[sql.Parts, str | None, list[str]]:
        """(JSON text, audit expression or None, LATERAL joins) of one row."""
        if len(fields) > MAX_KEYS:
            raise Unsupported("too many fields in one object")
        failure = self.failure(t, fields)
        if failure is not None:
            # null wherever the row exists: no field of it is read (nor audited)
            if any(nodes[0].name.value in t.personal for nodes in fields.values()):
                raise Unsupported("personal data beside a failing field")
            shape.fails = failure
            return sql.json_object([]), None, []
        pairs: list[tuple[str, sql.Piece]] = []
        joins: list[str] = []
        audited: dict[str, str] = {}  # GraphQL field -> column, disclosed values
        child_auds: list[str] = []
        graphql_type = self.schema.get_type(t.name)
        assert isinstance(graphql_type, GraphQLObjectType)
        for key, nodes in fields.items():
            name = nodes[0].name.value
            expr: sql.Piece
            if name == "__typename":
                expr = sql.Raw(f'"{t.name}"')
            elif name in t.scalars:
                column, kind = t.scalars[name]
                value = self.scalar(t, f"{alias}.{column}", kind)
                expr = sql.json_text(value, t.json_kind(column, kind), t.nullable(column))
            elif name in t.personal:
                column, _, kind = t.personal[name]
                value = self.personal(t, alias, key, name, audited, shape)
                expr = sql.json_text(value, t.json_kind(column, kind), t.nullable(column))
            elif name == t.typed_body:
                content = bodies.content(alias, nodes, self.collector.fields)
                expr = sql.json_nullable(f"({content})::text")
            elif name in t.relations:
                value, aud = self.relation(
                    t, alias, t.relations[name], graphql_type.fields[name], nodes, joins, shape, key
                )
                expr = sql.json_nullable(value)
                if aud is not None:
                    child_auds.append(aud)
            else:
                raise Unsupported(f"{t.name}.{name}")
            pairs.append((key, expr))
        json = sql.json_object(pairs)
        auds = child_auds
        if audited and t.subject_column:
            flags = ", ".join(
                f"CASE WHEN {alias}.{col} IS NOT NULL THEN {sql.literal(name)} END"
                for name, col in audited.items()
            )
            auds = [f"{alias}.{t.subject_column}::text || '|' || concat_ws(',', {flags})", *auds]
        # one part needs no concat_ws (its NULL, an empty item to the reader, stays NULL)
        aud = auds[0] if len(auds) == 1 else f"concat_ws(';', {', '.join(auds)})" if auds else None
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

    def relation(self, *args: Any) -> tuple[str, str | None]:
        self.nested += 1
        try:
            return self._relation(*args)
        finally:
            self.nested -= 1

    def _relation(
        self,
        t: TableType,
        alias: str,
        rel: ToOne | Children | Consents,
        field_def: Any,
        nodes: list[FieldNode],
        joins: list[str],
        shape: Shape,
        key: str,
    ) -> tuple[str, str | None]:
        message = self.denied(rel.permission)
        if message is not None:
            # null and a FORBIDDEN error wherever the parent is in the result
            shape.items.append(("error", key, (Forbidden(message), nodes)))
            return "NULL", None
        if isinstance(rel, Children):
            exc = self.page_error(field_def, nodes, rel.keyset)
            if exc is not None:
                # null and the resolver's error wherever the parent is (a non-null one
                # nulls its parent instead: `failure`)
                shape.items.append(("error", key, (exc, nodes)))
                return "NULL", None
        if isinstance(rel, Consents):
            return self.consents(rel, alias, field_def, nodes, joins, shape, key)
        target = self.seen(self.catalog.types[rel.target])
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


def _own_argument(fn: Param, key: str) -> Param:
    """`fn`, noting which root list's own argument failed (a page size, a cursor)."""

    def value(i: Inputs) -> Any:
        try:
            return fn(i)
        except ApiError as exc:
            i.listing_error = (key, exc)
            raise

    return value
