"""`viewer`: who the caller is."""

from __future__ import annotations

import strawberry


@strawberry.type(description="The authenticated caller.")
class Viewer:
    kind: str = strawberry.field(description="member, partner, widget, visitor or subject.")
    tenant_id: strawberry.ID
    tenant_name: str
    member_id: strawberry.ID | None
    email: str | None
    roles: list[str] = strawberry.field(description="Roles (members) or scopes (partner keys).")
    contact_id: strawberry.ID | None = strawberry.field(
        default=None, description="Visitors and subjects: the contact they speak for."
    )
