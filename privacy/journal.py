"""The erasure journal: record each completed erasure, and read it out for safe keeping.

An entry holds ids, the suppression HMAC and a time (models/journal.py); privacy/replay.py
repeats the entries on a database restored from a backup.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Db
from models import ErasureJournalEntry, JournalKind


async def record(
    db: Db,
    kind: JournalKind,
    subject_id: uuid.UUID | None,
    email_hash: bytes | None = None,
    *,
    entry_id: uuid.UUID | None = None,
    erased_at: datetime | None = None,
) -> None:
    """Add an entry in the current transaction; an entry already there is kept as it is."""
    values: dict[str, Any] = {
        "tenant_id": db.tenant_id,
        "id": entry_id or uuid.uuid4(),
        "kind": kind.value,
        "subject_id": subject_id,
        "email_hash": email_hash,
    }
    if erased_at is not None:
        values["erased_at"] = erased_at
    await db.execute(insert(ErasureJournalEntry).values(**values).on_conflict_do_nothing())


async def record_contacts(db: Db, contact_ids: Sequence[uuid.UUID], email_hash: bytes) -> None:
    """A subject's erasure: one entry per matched contact (one without a contact if none)."""
    targets: list[uuid.UUID | None] = [*contact_ids] or [None]
    for contact_id in targets:
        await record(db, JournalKind.CONTACT, contact_id, email_hash)


def as_json(row: Any) -> dict[str, Any]:
    return {
        "tenant_id": str(row.tenant_id),
        "id": str(row.id),
        "kind": row.kind,
        "subject_id": str(row.subject_id) if row.subject_id else None,
        "email_hash": row.email_hash.hex() if row.email_hash else None,
        "erased_at": row.erased_at.isoformat(),
    }


async def entries_since(
    sessionmaker: async_sessionmaker[AsyncSession], since: datetime | None
) -> list[dict[str, Any]]:
    """Every tenant's entries (oldest first), as the owner: the journal crosses tenants."""
    # plain SQL: crossing tenants on purpose, which the ORM's tenant listener refuses
    sql = "SELECT tenant_id, id, kind, subject_id, email_hash, erased_at FROM erasure_journal"
    if since is not None:
        sql += " WHERE erased_at >= :since"
    async with sessionmaker() as session:
        rows = await session.execute(text(sql + " ORDER BY erased_at, id"), {"since": since})
        return [as_json(row) for row in rows]
