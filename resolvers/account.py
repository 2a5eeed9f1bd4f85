"""Deleting the whole account at the owners' request (privacy/account.py does the work)."""

from __future__ import annotations

from sqlalchemy import delete

from core.errors import Forbidden
from models import SignIn
from privacy import account
from schema.account import (
    AccountDeletionConfirmInput,
    AccountDeletionConfirmPayload,
    AccountDeletionRequestPayload,
    AccountErrorCode,
    AccountUserError,
)
from schema.context import Info

MESSAGES = {
    account.Refusal.NO_PENDING_REQUEST: "No deletion was requested; request one first.",
    account.Refusal.INVALID_CODE: "The code does not match.",
    account.Refusal.CODE_EXPIRED: "The code has expired; request a new one.",
    account.Refusal.TOO_MANY_ATTEMPTS: "Too many wrong codes; request a new one.",
}


async def request_account_deletion(info: Info) -> AccountDeletionRequestPayload:
    """E-mail a confirmation code to every owner; say what confirming will do."""
    member_id = info.context.principal.member_id
    if member_id is None:
        raise Forbidden("Only an owner can delete the account.")
    expires_at, owners = await account.request_deletion(info.context.db, member_id)
    info.context.audit.record("account_deletion_request", None, ["account"])
    assert info.context.principal.tenant_id is not None
    await info.context.emit("account.deletion_requested", info.context.principal.tenant_id)
    return AccountDeletionRequestPayload(
        expires_at=expires_at, owners_notified=owners, warning=account.WARNING
    )


async def confirm_account_deletion(
    info: Info, input: AccountDeletionConfirmInput
) -> AccountDeletionConfirmPayload:
    """Erase the account's personal data now and end the subscription, if the code matches."""
    ctx = info.context
    if ctx.principal.member_id is None or ctx.principal.tenant_id is None:
        raise Forbidden("Only an owner can delete the account.")
    refusal = await account.confirm_deletion(
        ctx.db.sessionmaker, ctx.principal.tenant_id, input.code
    )
    if refusal is not None:
        return AccountDeletionConfirmPayload(
            user_errors=[
                AccountUserError(
                    code=AccountErrorCode(refusal.value),
                    field=["code"],
                    message=MESSAGES[refusal],
                )
            ]
        )
    # this request's own session start, written in its still open transaction
    await ctx.db.execute(delete(SignIn).execution_options(synchronize_session=False))
    # the audit keeps ids only: who confirmed (the actor) and what, never a value
    ctx.audit.record("account_delete", None, ["account"])
    await ctx.emit("account.deleted", ctx.principal.tenant_id)
    return AccountDeletionConfirmPayload(deleted=True)
