"""Preview links (`api_tokens` of kind `preview`): minted with a signed secret, listed and
revoked. The secret is returned by `mint_preview` only; the row keeps its hash."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement

from core.db import Db
from core.preview_links import PreviewLink, sign_preview
from models import ApiToken
from store.tokens import mint_token

KIND = "preview"


async def mint_preview(
    db: Db,
    secret: bytes,
    space_id: uuid.UUID,
    *,
    expires_at: datetime,
    note: str,
    created_by: uuid.UUID | None,
) -> tuple[ApiToken, str]:
    """Store a new preview of the session's tenant; its secret is returned here only."""

    def sealed(row_id: uuid.UUID) -> str:
        return sign_preview(secret, PreviewLink(row_id, space_id, expires_at))

    return await mint_token(
        db,
        KIND,
        name=note,
        expires_at=expires_at,
        created_by=created_by,
        space_ids=[space_id],
        sealed=sealed,
    )


def previews_of(space_id: uuid.UUID | None) -> Sequence[ColumnElement[bool]]:
    """The criteria of the tenant's previews, of one space if given."""
    where = [ApiToken.kind == KIND]
    if space_id is not None:
        where.append(ApiToken.space_ids.contains([space_id]))
    return where


async def revoke_preview(db: Db, row: ApiToken) -> bool:
    """Revoke now (its next request fails in every process); False if it already was."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    await db.flush()
    return True
