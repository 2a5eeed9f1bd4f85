"""E-mail types: queueing automated e-mail through the outbox."""

from __future__ import annotations

import enum

import strawberry

from schema.errors import UserError


@strawberry.enum
class EmailErrorCode(enum.Enum):
    REQUIRED = "required"
    TOO_LONG = "too_long"
    TOO_MANY = "too_many"


@strawberry.type(description="Why nothing was queued.")
class EmailUserError(UserError):
    code: EmailErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class SpaceNotifyInput:
    space_id: strawberry.ID
    message: str = strawberry.field(description="What changed (at most 2,000 characters).")


@strawberry.input(
    description="Marketing e-mail is queued only for contacts whose consent is granted."
)
class MarketingEmailQueueInput:
    contact_ids: list[strawberry.ID] = strawberry.field(description="At most 1,000 contacts.")
    subject: str = strawberry.field(description="At most 200 characters.")
    body: str = strawberry.field(description="Plain text, at most 20,000 characters.")


@strawberry.type
class EmailQueuePayload:
    accepted_count: int = strawberry.field(
        default=0, description="Contacts the request covered (queued or skipped)."
    )
    queued_count: int | None = strawberry.field(
        default=0, description="Null for a caller who may not read consent (see skippedCount)."
    )
    skipped_count: int | None = strawberry.field(
        default=0,
        description="Contacts left out: no marketing consent, or no active access. Null for "
        "a caller who may not read consent: the counts would reveal it.",
    )
    user_errors: list[EmailUserError] = strawberry.field(default_factory=list)
