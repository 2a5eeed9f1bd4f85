"""Persisted GraphQL documents of a tenant: look up by SHA-256, register."""

from __future__ import annotations

import hashlib
import re
import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from core.db import Db
from models import PersistedDocument

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_DOCUMENT_CHARS = 100_000


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


async def find_document(db: Db, sha256: str) -> PersistedDocument | None:
    """The tenant's document with this hash, if registered."""
    row: PersistedDocument | None = await db.scalar(
        select(PersistedDocument).where(PersistedDocument.sha256 == sha256)
    )
    return row


async def register_document(db: Db, document: str, *, trusted: bool) -> PersistedDocument:
    """Store a document under its hash (idempotent); registering it trusted marks it so."""
    digest = sha256_of(document)
    tenant_id = db.tenant_id
    stmt = (
        insert(PersistedDocument)
        .values(
            tenant_id=tenant_id, id=uuid.uuid4(), sha256=digest, document=document, trusted=trusted
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "sha256"])
    )
    await db.execute(stmt)
    row = await find_document(db, digest)
    assert row is not None
    if trusted and not row.trusted:
        row.trusted = True
        await db.flush()
    return row
