"""A tenant's widget brand (tenants.brand): its validation and its loader."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from core.db import Db
from models import Tenant
from store.loaders import register

# GraphQL field (snake case) -> key of the stored document, which is its GraphQL name
KEYS = {
    "primary_color": "primaryColor",
    "background_color": "backgroundColor",
    "text_color": "textColor",
    "font_family": "fontFamily",
    "logo_url": "logoUrl",
    "corner_radius": "cornerRadius",
}
COLOR_RE = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# names, generic families, commas and quotes: nothing that could end a CSS declaration
FONT_RE = re.compile(r"[A-Za-z0-9 ,\-_'\"]{1,200}")
RADIUS_MAX = 32
URL_MAX = 2000
COLORS = ("primaryColor", "backgroundColor", "textColor")
FONT_MESSAGE = (
    "fontFamily may hold letters, digits, spaces, commas, hyphens and paired quotes, "
    "at most 200 characters."
)


def problems(changes: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(code, key, message) for each invalid value; None (clearing) is always valid."""
    out = []
    for key, value in changes.items():
        if value is None:
            continue
        if key in COLORS and not COLOR_RE.fullmatch(value):
            out.append(("INVALID_COLOR", key, f"{key} must be a hex colour: #rgb or #rrggbb."))
        elif key == "fontFamily" and (
            not FONT_RE.fullmatch(value) or value.count('"') % 2 or value.count("'") % 2
        ):
            out.append(
                (
                    "INVALID_FONT",
                    key,
                    FONT_MESSAGE,
                )
            )
        elif key == "logoUrl" and (
            len(value) > URL_MAX
            or urlsplit(value).scheme != "https"
            or not urlsplit(value).hostname
            or any(c.isspace() or ord(c) < 32 for c in value)
        ):
            out.append(("INVALID_URL", key, "logoUrl must be an https URL."))
        elif key == "cornerRadius" and not 0 <= value <= RADIUS_MAX:
            out.append(("INVALID_RADIUS", key, f"cornerRadius must be 0 to {RADIUS_MAX}."))
    return out


async def brands(db: Db, tenant_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    stmt = select(Tenant.id, Tenant.brand).where(Tenant.id.in_(tenant_ids))
    rows = {row.id: row.brand for row in await db.execute(stmt)}
    return [rows.get(t) or {} for t in tenant_ids]


register("brand_by_tenant_id")(lambda db: DataLoader(lambda ids: brands(db, ids)))
