"""Replaying the erasure journal on a database restored from a backup.

A backup taken before an erasure still holds the person. Each journal entry from the backup's
time on is erased again with the same steps as the first time (the models' declarations), and
the entry itself is put back, so the restored journal is complete again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Db
from files.storage import Storage, tenant_prefix
from models import JournalKind, SubscriptionStatus, Suppression, Tenant
from privacy.erasure import apply_step, forget_subject, steps, unit
from privacy.journal import record
from privacy.members import erase_member
from privacy.retention import purge_tenant


async def replay(
    sessionmaker: async_sessionmaker[AsyncSession],
    entries: Iterable[dict[str, Any]],
    *,
    since: datetime,
    storage: Storage | None = None,
) -> dict[str, int]:
    """Re-apply every entry from `since` on, each in its own transaction; counts by kind."""
    done = {kind.value: 0 for kind in JournalKind}
    for entry in entries:
        erased_at = datetime.fromisoformat(entry["erased_at"])
        if erased_at < since:
            continue
        tenant_id = uuid.UUID(entry["tenant_id"])
        kind = JournalKind(entry["kind"])
        subject = uuid.UUID(entry["subject_id"]) if entry["subject_id"] else None
        email_hash = bytes.fromhex(entry["email_hash"]) if entry["email_hash"] else None
        if not await _tenant_exists(sessionmaker, tenant_id):
            continue  # created after the backup: nothing of it was restored
        if kind is JournalKind.TENANT:
            await purge_tenant(sessionmaker, tenant_id, now=erased_at, storage=storage)
        async with unit(sessionmaker, tenant_id) as db:
            if kind is JournalKind.TENANT:
                # retention purged an account whose subscription had ended
                await db.execute(
                    update(Tenant)
                    .where(Tenant.id == tenant_id)
                    .values(
                        subscription_status=SubscriptionStatus.ENDED.value,
                        subscription_ends_at=func.coalesce(Tenant.subscription_ends_at, erased_at),
                    )
                )
            elif kind is JournalKind.ACCOUNT:
                # deleted by its owners: every row again (as the owner, no confirmation asked)
                await db.execute(text("SELECT app_delete_tenant(:t)"), {"t": tenant_id})
                if storage is not None:
                    await storage.delete_prefix(tenant_prefix(tenant_id))
            if kind is JournalKind.CONTACT:
                await _replay_contact(db, subject, email_hash, storage)
            elif kind is JournalKind.MEMBER and subject is not None:
                await erase_member(db, subject)
            await record(
                db, kind, subject, email_hash, entry_id=uuid.UUID(entry["id"]), erased_at=erased_at
            )
        done[kind.value] += 1
    return done


async def _tenant_exists(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID
) -> bool:
    async with unit(sessionmaker, tenant_id) as db:
        return await db.scalar(select(Tenant.id).where(Tenant.id == tenant_id)) is not None


async def _replay_contact(
    db: Db, contact_id: uuid.UUID | None, email_hash: bytes | None, storage: Storage | None
) -> None:
    if contact_id is not None:
        for _name, model, link in steps():
            await apply_step(db, model, link, [contact_id], storage)
    if email_hash is not None:
        await db.execute(
            insert(Suppression)
            .values(tenant_id=db.tenant_id, id=uuid.uuid4(), email_hash=email_hash)
            .on_conflict_do_nothing(index_elements=["tenant_id", "email_hash"])
        )
        await forget_subject(db, email_hash)
