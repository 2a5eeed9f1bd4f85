"""Members as data subjects: their export, their departure, and the account-wide purge of
personal data held outside the contact tables (members, the tenant profile, sign-ins).

Which member and profile columns are personal is read from the personal-data map
(`info={"pii": ...}` on the models); nothing here lists columns by name.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Column, Table, delete, select, update

from core.db import Db
from models import ApiToken, JournalKind, Member, OutboxMessage, Role, SignIn, TenantProfile
from models.pii import personal_columns_of
from privacy.erasure import erase_columns
from privacy.journal import record


async def erase_member(db: Db, member_id: uuid.UUID) -> None:
    """One member's personal data: profile anonymised, tokens revoked, sign-ins deleted.
    The row stays (ids in the audit trail point at it); it can no longer sign in."""
    await erase_columns(db, Member, Member.id == member_id)
    await db.execute(
        update(ApiToken)
        .where(ApiToken.member_id == member_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    await db.execute(
        delete(SignIn)
        .where(SignIn.member_id == member_id)
        .execution_options(synchronize_session=False)
    )


async def erase_account_people(db: Db) -> None:
    """Retention and account deletion, after the personal columns of members and the tenant
    profile are erased (retention does that from the map): every sign-in and every e-mail
    to a member, and a journal entry so a restored backup can be purged again."""
    await db.execute(delete(SignIn).execution_options(synchronize_session=False))
    # e-mail to members (deletion codes) still queued
    await db.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.member_id.is_not(None))
        .execution_options(synchronize_session=False)
    )
    await record(db, JournalKind.TENANT, db.tenant_id)


async def is_last_owner(db: Db, member_id: uuid.UUID) -> bool:
    """Whether this member is an owner and no other owner can still sign in."""
    owners = await db.scalars(
        select(Member.id)
        .where(Member.role == Role.OWNER.value)
        .where(Member.email.not_like("erased-%@invalid"))
        .with_for_update()
    )
    return list(owners) == [member_id]


def _row(model_row: Any, columns: list[Column[Any]]) -> dict[str, Any]:
    out = {}
    for column in columns:
        value = getattr(model_row, column.key)
        out[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return out


async def member_document(db: Db, member_id: uuid.UUID) -> dict[str, Any]:
    """Everything held about the member in this tenant, machine-readable (versioned)."""
    member = await db.scalar(select(Member).where(Member.id == member_id))
    assert member is not None
    personal = personal_columns_of(cast(Table, Member.__table__))
    tokens = await db.scalars(
        select(ApiToken).where(ApiToken.member_id == member_id).order_by(ApiToken.created_at)
    )
    sign_ins = await db.scalars(
        select(SignIn).where(SignIn.member_id == member_id).order_by(SignIn.occurred_at.desc())
    )
    document: dict[str, Any] = {
        "version": 1,
        "kind": "member",
        "generated_at": datetime.now(UTC).isoformat(),
        "member": {
            "id": str(member.id),
            "role": member.role,
            "created_at": member.created_at.isoformat(),
            **_row(member, personal),
        },
        "tokens": [
            {
                "id": str(t.id),
                "name": t.name,
                "created_at": t.created_at.isoformat(),
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in tokens
        ],
        "sign_ins": [sign_in_json(s) for s in sign_ins],
    }
    if member.role == Role.OWNER.value:
        profile = await db.scalar(select(TenantProfile))
        document["tenant_profile"] = (
            _row(profile, personal_columns_of(cast(Table, TenantProfile.__table__)))
            if profile
            else None
        )
    return document


def sign_in_json(row: SignIn) -> dict[str, Any]:
    return {
        "occurred_at": row.occurred_at.isoformat(),
        "user_agent_family": row.user_agent_family,
        "network": row.network,
    }
