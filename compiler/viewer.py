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
    """The JSON of the `Viewer` object for these fields."""
    pairs = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        if name == "__typename":
            expr = sql.literal("Viewer")
        elif name == "kind":
            expr = param(lambda i: i.principal.kind, "text")
        elif name == "tenantId":
            expr = param(_global("Tenant", "tenant_id"), "text")
        elif name == "tenantName":
            expr = "coalesce((SELECT vt.name FROM tenants vt WHERE vt.id = $1), '')"
        elif name == "memberId":
            expr = param(_global("Member", "member_id"), "text")
        elif name == "email":
            member = param(lambda i: i.principal.member_id, "uuid")
            expr = f"(SELECT vm.email FROM members vm WHERE vm.tenant_id = $1 AND vm.id = {member})"
        elif name == "roles":
            expr = f"to_json({param(lambda i: list(i.principal.subjects), 'text[]')})"
        elif name == "contactId":
            expr = param(_global("Contact", "contact_id"), "text")
        else:
            raise Unsupported(f"Viewer.{name}")
        pairs.append(f"{sql.literal(key)}, {expr}")
    return f"json_build_object({', '.join(pairs)})"
