"""The tenant's widget brand: set by owners and admins, read with a published space."""

from __future__ import annotations

import strawberry
from sqlalchemy import update

from models import Tenant
from schema.brand import Brand, BrandErrorCode, BrandPayload, BrandUpdateInput, BrandUserError
from schema.context import Info
from store.brand import KEYS, problems


async def update_brand(info: Info, input: BrandUpdateInput) -> BrandPayload:
    """Change the given brand fields; null clears one (the widget's own look)."""
    changes = {
        key: getattr(input, field)
        for field, key in KEYS.items()
        if getattr(input, field) is not strawberry.UNSET
    }
    errors = [
        BrandUserError(code=BrandErrorCode[code], field=["input", key], message=message)
        for code, key, message in problems(changes)
    ]
    if errors:
        return BrandPayload(user_errors=errors)
    db = info.context.db
    assert db.tenant_id is not None
    current = await info.context.loaders.brand_by_tenant_id.load(db.tenant_id)
    brand = {k: v for k, v in {**current, **changes}.items() if v is not None}
    await db.execute(update(Tenant).where(Tenant.id == db.tenant_id).values(brand=brand))
    info.context.loaders.forget(db.tenant_id, "brand_by_tenant_id")
    fields = sorted(changes)
    info.context.audit.record("brand_update", None, fields)
    await info.context.emit("brand.updated", db.tenant_id, fields)
    return BrandPayload(brand=Brand.from_document(brand))
