"""Planning one row: its fields as JSON text, its personal data and its relations.

A scalar is its column serialised as the resolver path writes it; a personal field follows
the caller's decision (the value, a SQL mask, or NULL and an entry in
`extensions.redactions`), and a disclosed one adds `subject|field` to the audit; a to-one
relation is a LATERAL subquery, a child connection compiler/connections.py, current
consents compiler/consents.py, a typed body compiler/bodies.py.
"""

from __future__ import annotations

from dataclasses import replace

from graphql import FieldNode, GraphQLField, GraphQLObjectType

from compiler import bodies, computed, locales, sql
from compiler.catalog import Children, Consents, TableType, ToOne
from compiler.collect import Fields, Unsupported, argument
from compiler.connections import connection
from compiler.consents import consents
from compiler.context import ObjectSql, PlanContext
from compiler.failures import failure, page_error
from compiler.shapes import MAX_KEYS, WITHHELD, Shape
from core.errors import Forbidden
from policies.merge import MergeReader, merge_reader
from policies.redaction import Decision

Relation = ToOne | Children | Consents


def json_value(ctx: PlanContext, t: TableType, value: str, column: str, kind: str) -> sql.Piece:
    """The JSON text of one column's value (compiler/sql.py json_text)."""
    json_kind = t.json_kind(column, kind)
    twin = t.compact(column) if json_kind == "json" else None
    if json_kind == "json" and not ctx.mark_json:
        ctx.loose_json = True
        json_kind = "jsonb_text"
    text = sql.json_text(value, json_kind, t.nullable(column))
    row = value.removesuffix(f".{column}")
    if twin is None or not row.isidentifier() or not isinstance(text, str):
        return text  # no such column, or not the column's own value (a mask)
    # the text the API writes, kept beside the value: nothing to write again here
    return f"coalesce({row}.{twin}, {text})"


def object_json(
    ctx: PlanContext, t: TableType, alias: str, fields: Fields, shape: Shape
) -> ObjectSql:
    """(JSON text, audit expression or None, LATERAL joins) of one row."""
    if len(fields) > MAX_KEYS:
        raise Unsupported("too many fields in one object")
    failed = failure(ctx, t, fields)
    if failed is not None:
        # a field the plan cannot read has a resolver of its own, which may fail beside
        # (a history connection's bad cursor): what the answer lists is not known here
        for nodes in fields.values():
            if not _known(t, nodes[0].name.value):
                raise Unsupported(f"{t.name}.{nodes[0].name.value} beside a failing field")
        # null wherever the row exists: no field of it is read (nor audited)
        if any(nodes[0].name.value in t.personal for nodes in fields.values()):
            raise Unsupported("personal data beside a failing field")
        shape.fails = failed
        return sql.json_object([]), None, []
    pairs: list[tuple[str, sql.Piece]] = []
    joins: list[str] = []
    audited: dict[str, str] = {}  # GraphQL field -> column, disclosed values
    child_auds: list[str] = []
    graphql_type = ctx.schema.get_type(t.name)
    assert isinstance(graphql_type, GraphQLObjectType)
    merged: list[str] = []  # the body with its merge fields filled in, once per row
    merge_keys: list[str] = []  # the fields giving it
    # read by `body` alone: no LATERAL needed (the widget's and the bench's q1 shape)
    names = [nodes[0].name.value for nodes in fields.values()]
    once = t.merged_body is not None and names.count(t.merged_body) == 1
    once = once and t.typed_body not in names
    for key, nodes in fields.items():
        name = nodes[0].name.value
        expr: sql.Piece
        if name == "__typename":
            expr = sql.Raw(f'"{t.name}"')
        elif t.localized and name == "locale":
            expr = sql.json_text(locales.served_locale(alias, t.locale), "text", False)
        elif name in t.scalars:
            column, kind = t.scalars[name]
            value = scalar(t, f"{alias}.{column}", kind)
            expr = json_value(ctx, t, value, column, kind)
        elif name in t.personal:
            column, _, kind = t.personal[name]
            value = personal(ctx, t, alias, key, name, audited, shape)
            expr = json_value(ctx, t, value, column, kind)
        elif name in bodies.DOCUMENTS.get(t.name, {}):
            expr = bodies.document(t.name, alias, nodes, ctx.collector.fields)
        elif name == t.typed_body:
            body = _merged(ctx, t, alias, merged, joins, once=False)
            content = bodies.content(alias, nodes, ctx.collector.fields, body=body)
            expr = sql.json_nullable(f"({content})")
            merge_keys.append(key)
        elif name == t.merged_body:
            expr = _merged_text(ctx, t, alias, _merged(ctx, t, alias, merged, joins, once=once))
            merge_keys.append(key)
        elif name in t.computed:
            expr = computed.value(ctx, t.name, alias, name)
        elif name in t.relations:
            field_def = graphql_type.fields[name]
            value, aud = relation(
                ctx, t, alias, t.relations[name], field_def, nodes, joins, shape, key
            )
            expr = sql.json_nullable(value)
            if aud is not None:
                child_auds.append(aud)
        else:
            raise Unsupported(f"{t.name}.{name}")
        pairs.append((key, expr))
    if merge_keys:
        _merge_disclosures(ctx, t, alias, merge_keys, pairs, child_auds, shape)
    return sql.json_object(pairs), _audit(t, alias, audited, child_auds), joins


def _merge_disclosures(
    ctx: PlanContext,
    t: TableType,
    alias: str,
    keys: list[str],
    pairs: list[tuple[str, sql.Piece]],
    auds: list[str],
    shape: Shape,
) -> None:
    """What the row's merge fields disclose and withhold (policies/merge.py), only for a body
    that holds one (a column test otherwise): the contact fields they show are audited as a
    direct read is (`subject|fullName,company`), those withheld are reported at `keys`."""
    reader = merge_reader(ctx.principal.kind, ctx.authz) if ctx.principal else None
    if reader is None:
        return  # fallbacks only: nothing disclosed, nothing withheld
    values = _values(ctx, reader, alias)
    body, has = _stored(t, alias)
    if reader.discloses:
        auds.append(f"CASE WHEN {has} THEN app_merge_audit({body}, {values}) END")
    if not reader.own and reader.withholds:
        held = (
            f"CASE WHEN {has} THEN app_merge_withheld({body}, {values}, "
            f"{sql.literal(reader.name)}, {sql.literal(reader.company)}) END"
        )
        # the key only where something was withheld: a text without it needs no walk
        opening = sql.literal(f',"{WITHHELD}":"')
        marker = f"coalesce({opening} || {held} || '\"', '')"
        last, value = pairs[-1]
        pairs[-1] = (last, sql.Parts((value, marker)))
        shape.items.append(("merge", WITHHELD, tuple(keys)))


def _values(ctx: PlanContext, reader: MergeReader, alias: str) -> str:
    """The reader's values for the row's space (`app_merge_values`)."""
    contact = ctx.audience.who() if reader.own and ctx.audience else "NULL::uuid"
    return (
        f"app_merge_values($1, {alias}.space_id, {contact}, "
        f"{sql.literal(reader.name)}, {sql.literal(reader.company)})"
    )


def _merged(
    ctx: PlanContext, t: TableType, alias: str, merged: list[str], joins: list[str], *, once: bool
) -> str:
    """The row's body with merge fields filled in for this reader (policies/merge.py). Read
    once (`body` alone): the filling itself, for a body known to hold merge fields; else a
    LATERAL column, computed once however many fields read it (OFFSET 0 keeps PostgreSQL
    from copying the expression into each)."""
    if merged:
        return merged[0]
    reader = merge_reader(ctx.principal.kind, ctx.authz) if ctx.principal else None
    # no reader's values: every field its fallback
    values = "NULL::jsonb" if reader is None else _values(ctx, reader, alias)
    body, has = _stored(t, alias)
    if once:
        # in the THEN of `_merged_text`'s CASE: only a body with merge fields is filled in
        return f"app_merge_fields({body}, {values})"
    # inlined by PostgreSQL: a block without merge fields costs a column test
    expr = f"app_merged({has}, {body}, {values})"
    m = ctx.alias("m")
    joins.append(f"CROSS JOIN LATERAL (SELECT {expr} AS b OFFSET 0) {m}")
    merged.append(f"{m}.b")
    return merged[0]


def _merged_text(ctx: PlanContext, t: TableType, alias: str, merged: str) -> str:
    """The JSON text of the body: as stored (its compact text, json_value) unless it holds
    merge fields, then filled in."""
    assert t.merged_body is not None
    stored = json_value(ctx, t, f"{alias}.{t.merged_body}", t.merged_body, "plain")
    filled = json_value(ctx, t, merged, t.merged_body, "plain")
    assert isinstance(stored, str) and isinstance(filled, str)  # a JSON column's text
    if t.locale is not None:
        # a body of another locale as JSONB's text, else the block's own as above
        kind = "json" if ctx.mark_json else "jsonb_text"
        stored = locales.served_body_json(alias, t.locale, stored, kind)
    return f"CASE WHEN {_stored(t, alias)[1]} THEN {filled} ELSE {stored} END"


def _stored(t: TableType, alias: str) -> tuple[str, str]:
    """(the body as stored, whether it holds merge fields) of the row `alias`: its own, or
    in a read's locale (compiler/locales.py) the one it is served in."""
    assert t.merged_body is not None
    own = f"{alias}.{t.merged_body}"
    if t.locale is None:
        return own, f"{alias}.has_merge_fields"
    return locales.served_body(alias, t.locale), locales.served_has(alias, t.locale)


def _known(t: TableType, name: str) -> bool:
    """Whether `object_json` reads this field itself (the branches below)."""
    return (
        name == "__typename"
        or name in t.scalars
        or name in t.personal
        or name in bodies.DOCUMENTS.get(t.name, {})
        or name == t.typed_body
        or name == t.merged_body
        or name in t.computed
        or name in t.relations
    )


def _audit(t: TableType, alias: str, audited: dict[str, str], child_auds: list[str]) -> str | None:
    """The row's `subject|field,...` item (the disclosed fields that are not NULL) and its
    relations' items, `;`-separated; None when nothing is disclosed."""
    auds = child_auds
    if audited and t.subject_column:
        flags = ", ".join(
            f"CASE WHEN {alias}.{col} IS NOT NULL THEN {sql.literal(name)} END"
            for name, col in audited.items()
        )
        auds = [f"{alias}.{t.subject_column}::text || '|' || concat_ws(',', {flags})", *auds]
    # one part needs no concat_ws (its NULL, an empty item to the reader, stays NULL)
    return auds[0] if len(auds) == 1 else f"concat_ws(';', {', '.join(auds)})" if auds else None


def scalar(t: TableType, column: str, kind: str) -> str:
    if kind == "global_id":
        return sql.global_id(t.name, column)
    if kind == "enum":
        return sql.enum_name(column)
    if kind == "datetime":
        return sql.iso(column)
    return column


def personal(
    ctx: PlanContext,
    t: TableType,
    alias: str,
    key: str,
    name: str,
    audited: dict[str, str],
    shape: Shape,
) -> str:
    """A personal field's SQL by the caller's decision: value, mask or NULL (redacted)."""
    column, category, kind = t.personal[name]
    decision = ctx.authz.field_decision(f"{t.name}.{name}")
    ref = f"{alias}.{column}"
    if decision is Decision.FULL:
        audited.setdefault(name, column)
        return scalar(t, ref, kind)
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
    ctx: PlanContext,
    t: TableType,
    alias: str,
    rel: Relation,
    field_def: GraphQLField,
    nodes: list[FieldNode],
    joins: list[str],
    shape: Shape,
    key: str,
) -> tuple[str, str | None]:
    """(JSON, audit or None) of a relation of the row `alias`; its subquery joins `joins`."""
    ctx.nested += 1
    try:
        return _relation(ctx, t, alias, rel, field_def, nodes, joins, shape, key)
    finally:
        ctx.nested -= 1


def _relation(
    ctx: PlanContext,
    t: TableType,
    alias: str,
    rel: Relation,
    field_def: GraphQLField,
    nodes: list[FieldNode],
    joins: list[str],
    shape: Shape,
    key: str,
) -> tuple[str, str | None]:
    message = ctx.denied(rel.permission)
    if message is not None:
        # null and a FORBIDDEN error wherever the parent is in the result
        shape.items.append(("error", key, (Forbidden(message), nodes)))
        return "NULL", None
    if isinstance(rel, Children):
        exc = page_error(ctx, field_def, nodes, rel.keyset)
        if exc is not None:
            # null and the resolver's error wherever the parent is (a non-null one
            # nulls its parent instead: compiler/failures.py `failure`)
            shape.items.append(("error", key, (exc, nodes)))
            return "NULL", None
    if isinstance(rel, Consents):
        return consents(ctx, rel, alias, field_def, nodes, joins, shape, key)
    target = ctx.seen(ctx.catalog.types[rel.target])
    if isinstance(rel, ToOne):
        return _to_one(ctx, target, alias, rel, field_def, nodes, joins, shape, key)
    child_shape = Shape()
    handled: tuple[str, ...] = ()
    if target.localized and "locale" in field_def.args:
        # a space's blocks in a locale (store/locales.py), each along its chain
        target = replace(target, locale=locales.requested_params(ctx, field_def, nodes))
        handled = ("locale",)
    lateral, sub, audited = connection(
        ctx,
        target,
        rel.keyset,
        field_def,
        nodes,
        parent=(f"{alias}.id", rel.parent_column),
        where=[],
        shape=child_shape,
        handled=handled,
    )
    joins.append(lateral)
    if child_shape:
        shape.items.append(("connection", key, child_shape))
    return f"{sub}.j", (f"{sub}.a" if audited else None)


def _to_one(
    ctx: PlanContext,
    target: TableType,
    alias: str,
    rel: ToOne,
    field_def: GraphQLField,
    nodes: list[FieldNode],
    joins: list[str],
    shape: Shape,
    key: str,
) -> tuple[str, str | None]:
    """The row `rel.column` names (or `rel.keyed` finds), as a LATERAL subquery."""
    child_shape = Shape()
    fields = ctx.collector.fields(target.name, nodes)
    o = ctx.alias("o")
    json, aud, inner = object_json(ctx, target, o, fields, child_shape)
    sub = ctx.alias("l")
    match = f"{o}.id = {alias}.{rel.column}"
    if rel.keyed is not None:
        parent, column, name = rel.keyed
        given = argument(field_def, nodes[0], name)
        kind = "int" if column == "number" else "text"
        match = f"{o}.{parent} = {alias}.id AND {o}.{column} = " + ctx.param(
            lambda i: given(i.variables), kind
        )
    joins.append(
        f"LEFT JOIN LATERAL (SELECT {json} AS j, {aud or 'NULL'} AS a "
        f"FROM {target.table} {o} {' '.join(inner)} "
        f"WHERE {o}.tenant_id = $1 AND {match}) {sub} ON true"
    )
    if child_shape:
        shape.items.append(("object", key, child_shape))
    return f"{sub}.j", (f"{sub}.a" if aud is not None else None)
