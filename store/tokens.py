"""Bearer credentials (`api_tokens`), minted in one place: a random secret the caller shows
once, and a row that keeps only its SHA-256 hash (core/auth.py `new_token`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from core.auth import hash_token, new_token
from core.db import Db
from models import ApiToken

# the first characters of a key's secret, kept to tell keys apart in a list: the kind's
# prefix and a few random characters, never enough to use
HINT_LENGTH = 8


async def mint_token(
    db: Db,
    kind: str,
    *,
    name: str,
    member_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    scopes: Sequence[str] = (),
    expires_at: datetime | None = None,
    created_by: uuid.UUID | None = None,
    space_ids: Sequence[uuid.UUID] = (),
    allowed_origins: Sequence[str] = (),
    space_access_id: uuid.UUID | None = None,
    hint: bool = False,
    sealed: Callable[[uuid.UUID], str] | None = None,
) -> tuple[ApiToken, str]:
    """Store a new credential of the session's tenant; its secret is returned here only.
    `sealed` makes a signed secret naming the row's id (a preview link's) in place of a
    random one."""
    row_id = uuid.uuid4()
    if sealed is None:
        secret, digest = new_token(kind)
    else:
        secret = sealed(row_id)
        digest = hash_token(secret)
    row = ApiToken(
        id=row_id,
        kind=kind,
        name=name,
        token_hash=digest,
        hint=secret[:HINT_LENGTH] if hint else "",
        member_id=member_id,
        contact_id=contact_id,
        scopes=list(scopes),
        expires_at=expires_at,
        created_by=created_by,
        space_ids=list(space_ids),
        allowed_origins=list(allowed_origins),
        space_access_id=space_access_id,
    )
    db.add(row)
    await db.flush()
    return row, secret


async def reissue(db: Db, row: ApiToken, *, expires_at: datetime | None) -> str:
    """A new secret for an existing credential, live again until `expires_at`; the old
    secret stops working at once (a visitor session reopened from its invitation)."""
    secret, digest = new_token(row.kind)
    row.token_hash, row.expires_at, row.revoked_at = digest, expires_at, None
    await db.flush()
    return secret
