"""Immediate deletion of a whole account, at the owners' request.

An owner asks; a one-time code goes by e-mail to every owner; confirming it within its
validity erases all of the tenant's personal data at once, through the retention engine
(privacy/retention.py `purge_tenant`), and ends the subscription. Nothing can undo it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Db
from models import AccountDeletion, Member, Role, Tenant
from models.outbox import EmailKind
from privacy.erasure import unit
from privacy.retention import purge_tenant
from store.outbox import enqueue_to_members

CODE_TTL = timedelta(minutes=30)
MAX_ATTEMPTS = 5
WARNING = (
    "Confirming erases every piece of personal data this account holds (contacts, consent, "
    "e-mail history, members, billing profile, sign-ins) at once and ends the subscription. "
    "It is permanent: nothing can undo it, and no backup will be used to bring it back."
)


class Refusal(enum.Enum):
    NO_PENDING_REQUEST = "no_pending_request"
    INVALID_CODE = "invalid_code"
    CODE_EXPIRED = "code_expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.strip().encode()).digest()


async def request_deletion(db: Db, member_id: uuid.UUID) -> tuple[datetime, int]:
    """Open a deletion request and queue its code to every owner; (expiry, owners e-mailed)."""
    code = f"{secrets.randbelow(10**8):08d}"
    expires_at = datetime.now(UTC) + CODE_TTL
    db.add(
        AccountDeletion(
            id=uuid.uuid4(), requested_by=member_id, code_hash=_hash(code), expires_at=expires_at
        )
    )
    await db.flush()
    owners = list(
        await db.scalars(
            select(Member.id).where(
                Member.role == Role.OWNER.value, Member.email.not_like("erased-%@invalid")
            )
        )
    )
    await enqueue_to_members(db, EmailKind.ACCOUNT_DELETION, owners, payload={"code": code})
    return expires_at, len(owners)


async def confirm_deletion(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, code: str
) -> Refusal | None:
    """Check the code (its own committed transaction, so failed attempts count), then purge."""
    now = datetime.now(UTC)
    async with unit(sessionmaker, tenant_id) as db:
        pending = await db.scalar(
            select(AccountDeletion)
            .where(AccountDeletion.confirmed_at.is_(None))
            .order_by(AccountDeletion.created_at.desc())
            .limit(1)
            .with_for_update()
        )
        if pending is None:
            return Refusal.NO_PENDING_REQUEST
        if pending.attempts >= MAX_ATTEMPTS:
            return Refusal.TOO_MANY_ATTEMPTS
        if pending.expires_at <= now:
            return Refusal.CODE_EXPIRED
        if not hmac.compare_digest(pending.code_hash, _hash(code)):
            pending.attempts += 1
            return Refusal.INVALID_CODE
        pending.confirmed_at = now
        await db.execute(
            update(Tenant)
            .where(Tenant.id == tenant_id)
            .values(subscription_status="ended", subscription_ends_at=now)
        )
    # committed: the ledgers now open to this tenant's purge (app_erase_ledger, migration 0010)
    await purge_tenant(sessionmaker, tenant_id, now=now, audited_by_caller=True)
    return None
