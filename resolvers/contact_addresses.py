"""Whether an e-mail address may be used: in use, or suppressed by an erasure.

A caller who sees e-mail only masked gets one answer for both, naming no row: answers that
depended on an address existing would confirm the addresses the mask hides (an oracle).
"""

from __future__ import annotations

from sqlalchemy import select

from models import Contact as ContactModel
from models import Suppression
from privacy.subjects import subject_hash
from schema.contacts import ContactErrorCode, ContactPayload, ContactUserError
from schema.context import Info


async def suppressed(info: Info, emails: list[str]) -> set[str]:
    """The addresses an erasure has suppressed: they may not come back (re-import, e-mail)."""
    if not emails:
        return set()
    secret = info.context.settings.secret()
    by_hash = {subject_hash(secret, e): e for e in emails}
    rows = await info.context.db.scalars(
        select(Suppression.email_hash).where(Suppression.email_hash.in_(list(by_hash)))
    )
    return {by_hash[h] for h in rows}


def reads_email(info: Info) -> bool:
    """Whether the caller reads e-mail in full; only then may answers depend on an address
    being in use or suppressed (otherwise they would confirm addresses the mask hides)."""
    return info.context.authz.can("Contact.email", "read")


def unavailable(field: list[str]) -> ContactUserError:
    """One answer for "in use" and "erased", naming no row, for masked callers."""
    return ContactUserError(
        code=ContactErrorCode.DUPLICATE_EMAIL,
        field=field,
        row=None,
        message="An e-mail address cannot be used here: it is in use or was erased.",
    )


async def taken(info: Info, email: str, row: ContactModel | None = None) -> ContactPayload | None:
    """The user error for an address in use by another contact or suppressed, if it is."""
    if await suppressed(info, [email]):
        return ContactPayload(
            user_errors=[suppressed_error() if reads_email(info) else unavailable(["email"])]
        )
    if reads_email(info):
        return None  # the savepoint's unique violation answers DUPLICATE_EMAIL
    stmt = select(ContactModel.id).where(ContactModel.email == email)
    if row is not None:
        stmt = stmt.where(ContactModel.id != row.id)
    if await info.context.db.scalar(stmt) is not None:
        return ContactPayload(user_errors=[unavailable(["email"])])
    return None


def suppressed_error(row: int | None = None) -> ContactUserError:
    return ContactUserError(
        code=ContactErrorCode.SUPPRESSED,
        field=["email"],
        row=row,
        message="This address belongs to a person whose data was erased at their request; "
        "it cannot be added again.",
    )
