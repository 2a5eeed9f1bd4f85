"""Persisted GraphQL documents of a tenant: look up by SHA-256, register; automatic ones
(Apollo's protocol) are bounded per tenant, the least recently used evicted."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from core.db import Db
from models import PersistedDocument

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_DOCUMENT_CHARS = 100_000
# an automatic document's last use is written at most this often: a read by hash stays a
# read, and eviction only needs a rough order
TOUCH_EVERY = timedelta(minutes=1)


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


async def touch_document(db: Db, row: PersistedDocument) -> None:
    """Note that an automatic document ran by hash (trusted ones are never evicted)."""
    if row.trusted or row.last_used_at > datetime.now(UTC) - TOUCH_EVERY:
        return
    await db.execute(
        update(PersistedDocument)
        .where(PersistedDocument.id == row.id)
        .values(last_used_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def register_automatic(db: Db, document: str, *, keep: int) -> None:
    """Store an automatic (untrusted) document, then keep only the tenant's `keep` most
    recently used automatic ones; trusted documents are neither counted nor evicted."""
    inserted = await db.scalar(
        insert(PersistedDocument)
        .values(
            tenant_id=db.tenant_id,
            id=uuid.uuid4(),
            sha256=sha256_of(document),
            document=document,
            trusted=False,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "sha256"])
        .returning(PersistedDocument.id)
    )
    if inserted is None:
        return  # known already: nothing grew
    # one statement whatever the excess, so a tenant over a lowered cap shrinks at once
    beyond = (
        select(PersistedDocument.id)
        .where(PersistedDocument.trusted.is_(False))
        .order_by(PersistedDocument.last_used_at.desc(), PersistedDocument.created_at.desc())
        .offset(keep)
    )
    await db.execute(
        delete(PersistedDocument)
        .where(PersistedDocument.trusted.is_(False), PersistedDocument.id.in_(beyond))
        .execution_options(synchronize_session=False)
    )
