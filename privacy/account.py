"""Immediate deletion of a whole account, at the owners' request.

An owner asks; a one-time code goes by e-mail to every owner; confirming it within its
validity deletes every row of the tenant at once, content included (`app_delete_tenant`,
migration 0017), but what docs/privacy.md "Account deletion" lists as kept: the audit
chain, the erasure journal and the tenant row as a nameless tombstone. Nothing can undo it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update

from core.db import Db
from files.storage import Storage, tenant_prefix
from models import AccountDeletion, JournalKind, Member, Role
from models.outbox import EmailKind
from privacy.erasure import unit
from privacy.journal import record
from store.outbox import enqueue_to_members

CODE_TTL = timedelta(minutes=30)
MAX_ATTEMPTS = 5
WARNING = (
    "Confirming deletes the whole account at once: its spaces, blocks and content, contacts, "
    "consent and e-mail history, members, billing profile, sign-ins, API keys and webhooks, "
    "and ends the subscription. It is permanent: nothing can undo it, and no backup will be "
    "used to bring it back."
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
    db: Db, tenant_id: uuid.UUID, code: str, storage: Storage | None = None
) -> Refusal | None:
    """Check the code in a committed transaction of its own (so failed attempts count); on a
    match, confirm and delete the account in the caller's transaction `db`, the only one in
    which `app_delete_tenant` accepts the confirmation. The caller's audit entry then commits
    with the deletion (the audit chain is kept)."""
    now = datetime.now(UTC)
    async with unit(db.sessionmaker, tenant_id) as check:
        pending = await check.scalar(
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
        matched = pending.id
    # no savepoint: app_delete_tenant checks that this transaction wrote the confirmation
    confirmed = await db.scalar(
        update(AccountDeletion)
        .where(AccountDeletion.id == matched, AccountDeletion.confirmed_at.is_(None))
        .values(confirmed_at=func.now())
        .returning(AccountDeletion.id)
        .execution_options(synchronize_session=False)
    )
    if confirmed is None:
        return Refusal.NO_PENDING_REQUEST  # another request confirmed it meanwhile
    await db.execute(text("SELECT app_delete_tenant(:t)"), {"t": tenant_id})
    if storage is not None:
        # the tenant's files, originals and variants: every key under its prefix
        await storage.delete_prefix(tenant_prefix(tenant_id))
    # kept: a backup restored later is deleted again (privacy/replay.py)
    await record(db, JournalKind.ACCOUNT, tenant_id)
    return None
