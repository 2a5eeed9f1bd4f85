"""A member's rights over their own data: see it, export it, correct it, leave the tenant;
and the owners' billing profile. Every field acts on the caller's own member record."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from sqlalchemy import select
from strawberry.scalars import JSON

from core.errors import Forbidden
from models import JournalKind, Member, SignIn
from models import TenantProfile as TenantProfileModel
from privacy.journal import record
from privacy.members import erase_member, is_last_owner, member_document
from privacy.subjects import normalise_email
from resolvers.contacts import EMAIL_RE
from schema.context import Info
from schema.members import (
    MemberErrorCode,
    MemberLeavePayload,
    MemberProfile,
    MemberProfilePayload,
    MemberProfileUpdateInput,
    MemberUserError,
    TenantProfile,
    TenantProfilePayload,
    TenantProfileUpdateInput,
)
from schema.members import (
    SignIn as SignInType,
)

LIMITS = {
    "full_name": 200,
    "company": 200,
    "address": 1000,
    "company_name": 200,
    "billing_contact_name": 200,
    "billing_email": 320,
    "billing_address": 1000,
}
MAX_SIGN_INS = 100


def _me(info: Info) -> uuid.UUID:
    member_id = info.context.principal.member_id
    if member_id is None:
        raise Forbidden("Only a member has a profile.")
    return member_id


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _clean(data: dict[str, str | None]) -> tuple[dict[str, Any], list[MemberUserError]]:
    """None: not given; "" clears. Addresses may span lines; nothing else may hold controls."""
    out: dict[str, Any] = {}
    errors = []
    for field, raw in data.items():
        if raw is None:
            continue
        value = normalise_email(raw) if field.endswith("email") else raw.strip()
        allowed = "\n" if field.endswith("address") else ""
        code, name = None, _camel(field)
        if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") and c not in allowed for c in value):
            code = MemberErrorCode.INVALID_CHARACTERS
            message = f"{name} may not hold control characters" + (
                " (line breaks are allowed)." if allowed else "."
            )
        elif len(value) > LIMITS[field]:
            code = MemberErrorCode.TOO_LONG
            message = f"{name} may be at most {LIMITS[field]} characters."
        elif field.endswith("email") and value and not EMAIL_RE.match(value):
            code = MemberErrorCode.INVALID_EMAIL
            message = f"{name} is not a valid e-mail address."
        if code is not None:
            errors.append(MemberUserError(code=code, field=[name], message=message))
        out[field] = value or None
    return out, errors


async def get_my_profile(info: Info) -> MemberProfile:
    """The caller's own member profile."""
    row = await info.context.db.scalar(select(Member).where(Member.id == _me(info)))
    return MemberProfile.from_model(row)


async def export_my_data(info: Info) -> JSON:
    """Everything held about the caller as a member of this tenant (versioned JSON)."""
    member_id = _me(info)
    info.context.audit.record("member_export", None, ["member"])
    return JSON(await member_document(info.context.db, member_id))


async def list_my_sign_ins(info: Info, first: int = 20) -> list[SignInType]:
    """The caller's own most recent sign-ins, newest first."""
    rows = await info.context.db.scalars(
        select(SignIn)
        .where(SignIn.member_id == _me(info))
        .order_by(SignIn.occurred_at.desc(), SignIn.id)
        .limit(max(0, min(first, MAX_SIGN_INS)))
    )
    return [SignInType.from_model(r) for r in rows]


async def update_my_profile(info: Info, input: MemberProfileUpdateInput) -> MemberProfilePayload:
    """Correct the caller's own profile (the right to rectification)."""
    values, errors = _clean(
        {"full_name": input.full_name, "company": input.company, "address": input.address}
    )
    if errors:
        return MemberProfilePayload(user_errors=errors)
    db = info.context.db
    row = await db.scalar(select(Member).where(Member.id == _me(info)))
    for key, value in values.items():
        setattr(row, key, value)
    await db.flush()
    # the audit names the fields, never their values
    fields = sorted(_camel(k) for k in values)
    info.context.audit.record("member_update", None, fields)
    await info.context.emit("member.updated", row.id, fields)
    return MemberProfilePayload(profile=MemberProfile.from_model(row))


async def leave_tenant(info: Info) -> MemberLeavePayload:
    """The caller leaves the tenant: profile erased, tokens revoked, sign-ins deleted."""
    member_id = _me(info)
    db = info.context.db
    if await is_last_owner(db, member_id):
        return MemberLeavePayload(
            user_errors=[
                MemberUserError(
                    code=MemberErrorCode.LAST_OWNER,
                    field=None,
                    message="The last owner cannot leave: make another member owner first, "
                    "or delete the account.",
                )
            ]
        )
    await erase_member(db, member_id)
    await record(db, JournalKind.MEMBER, member_id)
    info.context.audit.record("member_leave", None, ["member"])
    await info.context.emit("member.left", member_id)
    return MemberLeavePayload(left=True)


async def get_tenant_profile(info: Info) -> TenantProfile:
    """The tenant's billing profile."""
    return TenantProfile.from_model(await info.context.db.scalar(select(TenantProfileModel)))


async def update_tenant_profile(
    info: Info, input: TenantProfileUpdateInput
) -> TenantProfilePayload:
    """Correct the tenant's billing profile."""
    values, errors = _clean(
        {
            "company_name": input.company_name,
            "billing_contact_name": input.billing_contact_name,
            "billing_email": input.billing_email,
            "billing_address": input.billing_address,
        }
    )
    if errors:
        return TenantProfilePayload(user_errors=errors)
    db = info.context.db
    row = await db.scalar(select(TenantProfileModel))
    if row is None:
        row = TenantProfileModel(id=uuid.uuid4())
        db.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    await db.flush()
    fields = sorted(_camel(k) for k in values)
    info.context.audit.record("tenant_profile_update", None, fields)
    assert db.tenant_id is not None
    await info.context.emit("tenant_profile.updated", db.tenant_id, fields)
    return TenantProfilePayload(profile=TenantProfile.from_model(row))
