"""Deleting the whole account at the owners' request (privacy/account.py does the work)."""

from __future__ import annotations

from core.errors import Forbidden
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
    """Delete the account now (every row but what docs/privacy.md keeps), if the code matches."""
    ctx = info.context
    if ctx.principal.member_id is None or ctx.principal.tenant_id is None:
        raise Forbidden("Only an owner can delete the account.")
    refusal = await account.confirm_deletion(
        ctx.db, ctx.principal.tenant_id, input.code, ctx.storage
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
    # the audit keeps ids only: who confirmed (the actor) and what, never a value. No
    # `account.deleted` event: the webhooks and keys that would carry it are deleted too
    ctx.audit.record("account_delete", None, ["account"])
    return AccountDeletionConfirmPayload(deleted=True)
