"""The caller's own identity."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from core.ids import encode_id
from models import Member, Tenant
from schema.context import Info
from schema.viewer import Viewer


async def get_viewer(info: Info) -> Viewer:
    """The authenticated principal, its tenant and (for members) its member record."""
    ctx = info.context
    principal = ctx.principal
    assert principal.tenant_id is not None  # the field is for authenticated callers only
    tenant = await ctx.db.scalar(select(Tenant).where(Tenant.id == principal.tenant_id))
    email = None
    if principal.member_id is not None:
        email = await ctx.db.scalar(select(Member.email).where(Member.id == principal.member_id))
    return Viewer(
        kind=principal.kind,
        tenant_id=strawberry.ID(encode_id("Tenant", principal.tenant_id)),
        tenant_name=tenant.name if tenant else "",
        member_id=strawberry.ID(encode_id("Member", principal.member_id))
        if principal.member_id
        else None,
        email=email,
        roles=list(principal.subjects),
        contact_id=strawberry.ID(encode_id("Contact", principal.contact_id))
        if principal.contact_id
        else None,
    )
