"""Planning a contact's current consents: the latest event per purpose, or NOT_GIVEN."""

from __future__ import annotations

from graphql import FieldNode, GraphQLField

from compiler import sql
from compiler.catalog import Consents
from compiler.collect import Unsupported, object_type
from compiler.context import PlanContext
from compiler.shapes import MAX_KEYS, Shape
from policies.redaction import Decision


def consents(
    ctx: PlanContext,
    rel: Consents,
    alias: str,
    field_def: GraphQLField,
    nodes: list[FieldNode],
    joins: list[str],
    shape: Shape,
    key: str,
) -> tuple[str, str | None]:
    """A contact's current consent per purpose: the latest event of each, or NOT_GIVEN."""
    consent_type = object_type(field_def)
    ev, p, sub = ctx.alias("ev"), ctx.alias("p"), ctx.alias("l")
    pairs: list[tuple[str, sql.Piece]] = []
    audited: dict[str, str] = {}
    item_shape = Shape()
    for k, fnodes in ctx.collector.fields(consent_type.name, nodes).items():
        name = fnodes[0].name.value
        expr: sql.Piece
        if name == "__typename":
            expr = sql.Raw(f'"{consent_type.name}"')
        elif name == "purpose":
            expr = sql.json_text(sql.enum_name(f"{p}.purpose"), "enum", nullable=False)
        elif name in DECIDED:
            expr = _decided(ctx, rel, consent_type.name, name, ev, k, audited, item_shape)
        else:
            raise Unsupported(f"Consent.{name}")
        pairs.append((k, expr))
    if len(pairs) > MAX_KEYS:
        raise Unsupported("too many fields in one object")
    aud = None
    if audited:
        flags = ", ".join(
            f"CASE WHEN {cond} THEN {sql.literal(name)} END" for name, cond in audited.items()
        )
        aud = f"{alias}.id::text || '|' || concat_ws(',', {flags})"
    items = sql.json_array(f"string_agg({sql.json_object(pairs)}, ',' ORDER BY {p}.n)")
    purposes = ", ".join(f"({sql.literal(v)}, {n})" for n, v in enumerate(rel.purposes))
    joins.append(
        f"LEFT JOIN LATERAL (SELECT {items} AS j"
        + (f", string_agg({aud}, ';' ORDER BY {p}.n) AS a" if aud else "")
        + f" FROM (VALUES {purposes}) AS {p}(purpose, n) "
        f"LEFT JOIN LATERAL (SELECT * FROM consent_events {ev} WHERE {ev}.tenant_id = $1 "
        f"AND {ev}.contact_id = {alias}.id AND {ev}.purpose = {p}.purpose "
        f"ORDER BY {ev}.occurred_at DESC, {ev}.id DESC LIMIT 1) {ev} ON true) {sub} ON true"
    )
    if item_shape:
        shape.items.append(("list", key, item_shape))
    return f"{sub}.j", (f"{sub}.a" if aud else None)


# the fields redacted by policy; `purpose` is no personal data
DECIDED = ("state", "granted", "changedAt", "source", "policyVersion")


def _decided(
    ctx: PlanContext,
    rel: Consents,
    type_name: str,
    name: str,
    ev: str,
    key: str,
    audited: dict[str, str],
    shape: Shape,
) -> sql.Piece:
    """A personal field of the latest event `ev` (none: NOT_GIVEN) by the caller's
    decision; a disclosed value adds the condition of its existence to `audited`."""
    event = f"{ev}.id IS NOT NULL"
    values = {
        "state": (f"CASE WHEN {event} THEN {sql.enum_name(f'{ev}.action')} ELSE 'NOT_GIVEN' END"),
        "granted": f"coalesce({ev}.action = 'granted', false)",
        "changedAt": sql.iso(f"{ev}.occurred_at"),
        "source": sql.enum_name(f"{ev}.source"),
        "policyVersion": f"{ev}.policy_version",
    }
    # a value exists: always for state and granted, else only with an event
    present = {
        "changedAt": event,
        "source": event,
        "policyVersion": f"{ev}.policy_version IS NOT NULL",
    }.get(name, "true")
    kind = {"changedAt": "datetime"}.get(name, "text")
    nullable = present != "true"
    decision = ctx.authz.field_decision(f"{type_name}.{name}")
    if decision is Decision.FULL:
        # a read is audited when a value is disclosed
        audited.setdefault(name, present)
        return sql.json_text(values[name], kind, nullable)
    if decision is Decision.MASKED and name == "policyVersion":
        audited.setdefault(name, present)
        return sql.json_text(sql.mask(rel.categories[name], values[name]), "text", nullable)
    if decision is Decision.MASKED and present != "true":
        raise Unsupported("a masked value with no partial form that may be null")
    # withheld (an enum, a boolean: no partial form)
    shape.items.append(("redacted", key, rel.categories[name]))
    return sql.Raw("null")
