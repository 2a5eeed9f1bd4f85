"""Deleting the whole account: the request (with its warning) and the confirmation."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from schema.errors import UserError


@strawberry.enum
class AccountErrorCode(enum.Enum):
    NO_PENDING_REQUEST = "no_pending_request"
    INVALID_CODE = "invalid_code"
    CODE_EXPIRED = "code_expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"


@strawberry.type(description="Why the account was not deleted; nothing was changed.")
class AccountUserError(UserError):
    code: AccountErrorCode


@strawberry.type
class AccountDeletionRequestPayload:
    expires_at: datetime | None = strawberry.field(
        default=None, description="The e-mailed code is valid until then."
    )
    owners_notified: int = strawberry.field(
        default=0, description="Owners the confirmation code was e-mailed to."
    )
    warning: str = strawberry.field(
        default="", description="What confirming does: read it before confirming."
    )


@strawberry.input
class AccountDeletionConfirmInput:
    code: str = strawberry.field(description="The code e-mailed to the owners.")


@strawberry.type
class AccountDeletionConfirmPayload:
    deleted: bool = False
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)
