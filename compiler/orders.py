"""Planning `orderBy`: the keyset the resolver path builds for an order of a root list."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from compiler.catalog import Keyset, TableType, keyset_of
from compiler.collect import Getter, Unsupported
from compiler.shapes import Inputs
from store.pagination import Order, parse_datetime, parse_str

# `orderBy` of the root lists, as resolvers/spaces.py space_order and resolvers/contacts.py
# contact_order build it: (type, field value) -> (column, parser, what NULL sorts as)
ORDER_FIELDS: dict[tuple[str, str], tuple[str, Any, str | None]] = {
    ("Space", "created_at"): ("created_at", parse_datetime, None),
    ("Space", "updated_at"): ("updated_at", parse_datetime, None),
    ("Space", "title"): ("title", parse_str, None),
    ("Contact", "created_at"): ("created_at", parse_datetime, None),
    ("Contact", "updated_at"): ("updated_at", parse_datetime, None),
    ("Contact", "name"): ("full_name", parse_str, ""),
}
# an order that would disclose a value the caller may not read (the resolver: FORBIDDEN)
ORDER_PERMISSIONS = {("Contact", "name"): ("Contact.fullName", "read")}


def order_keyset(target: TableType, field: str, direction: str) -> Keyset | None:
    """The keyset of an `orderBy` (field and direction values), None if not compiled."""
    spec = ORDER_FIELDS.get((target.name, field))
    if spec is None:
        return None
    column, parser, null_as = spec
    model = target.model
    order = Order(
        columns=(getattr(model, column), model.id),
        parsers=(parser, uuid.UUID),
        descending=direction == "desc",
        nulls=(null_as, None) if target.name == "Contact" else None,
        tag=f"{field}.{direction}",
    )
    return keyset_of(order)


def planned_order(
    target: TableType,
    get_order: Getter,
    variables: dict[str, Any],
    authz: Any,
    checks: list[Callable[[Inputs], None]],
) -> Keyset:
    """The keyset of `orderBy`; the plan holds for requests asking the same order."""
    chosen = get_order(variables)
    field, direction = _value(chosen.get("field")), _value(chosen.get("direction", "asc"))
    keyset = order_keyset(target, str(field), str(direction))
    if keyset is None:
        raise Unsupported(f"orderBy {field}")
    permission = ORDER_PERMISSIONS.get((target.name, str(field)))
    if permission is not None and not authz.can(*permission):
        raise Unsupported("an orderBy the caller may not use")  # FORBIDDEN, resolver path
    tag = keyset.order.tag

    def same_order(i: Inputs) -> None:
        value = get_order(i.variables) or {}
        asked = f"{_value(value.get('field'))}.{_value(value.get('direction', 'asc'))}"
        if asked != tag:
            raise Unsupported("another orderBy than planned")

    checks.append(same_order)
    return keyset


def _value(member: Any) -> Any:
    """An enum member's stored value (input objects keep their members)."""
    return getattr(member, "value", member)
