"""`viewer`: the caller's identity (resolvers/viewer.py) as one LATERAL subquery.

What the principal carries (kind, roles, IDs) are statement parameters, so one plan serves
every caller of a policy identity; the tenant's name and the member's e-mail are read by
the statement, as the resolver reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compiler import sql
from compiler.collect import Fields, Unsupported
from compiler.shapes import Inputs
from core.ids import encode_id

Param = Callable[[Callable[[Inputs], Any], str], str]


def _global(type_name: str, attr: str) -> Callable[[Inputs], str | None]:
    def value(i: Inputs) -> str | None:
        raw = getattr(i.principal, attr)
        return encode_id(type_name, raw) if raw is not None else None

    return value


def viewer_json(fields: Fields, param: Param) -> str:
    """The JSON text of the `Viewer` object for these fields."""
    pairs: list[tuple[str, sql.Piece]] = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        value: sql.Piece
        if name == "__typename":
            value = sql.Raw('"Viewer"')
        elif name == "kind":
            value = sql.json_text(param(lambda i: i.principal.kind, "text"), "text", False)
        elif name == "tenantId":
            value = sql.json_text(param(_global("Tenant", "tenant_id"), "text"), "text", True)
        elif name == "tenantName":
            name_sql = "coalesce((SELECT vt.name FROM tenants vt WHERE vt.id = $1), '')"
            value = sql.json_text(name_sql, "text", False)
        elif name == "memberId":
            value = sql.json_text(param(_global("Member", "member_id"), "text"), "text", True)
        elif name == "email":
            member = param(lambda i: i.principal.member_id, "uuid")
            email = (
                f"(SELECT vm.email FROM members vm WHERE vm.tenant_id = $1 AND vm.id = {member})"
            )
            value = sql.json_text(email, "text", True)
        elif name == "roles":
            roles = param(lambda i: list(i.principal.subjects), "text[]")
            value = sql.json_text(roles, "text", False)  # to_json of an array: compact
        elif name == "contactId":
            value = sql.json_text(param(_global("Contact", "contact_id"), "text"), "text", True)
        else:
            raise Unsupported(f"Viewer.{name}")
        pairs.append((key, value))
    return str(sql.json_object(pairs))
