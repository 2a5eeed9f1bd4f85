"""Preview links: types, inputs and payloads. A link's secret appears in one payload only:
the one that created it."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import strawberry

from core.ids import encode_id
from models import ApiToken as ApiTokenModel
from schema.errors import UserError
from schema.node import Node

PREVIEW = "preview"


@strawberry.enum
class PreviewLinkStatus(enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@strawberry.type(
    description="A signed, expiring, revocable link that shows one space's draft, read-only, "
    "to someone without an account. Its secret is never shown again."
)
class PreviewLink(Node):
    node_policy: ClassVar[str | None] = "PreviewLink"
    node_loader: ClassVar[str | None] = "api_key_by_id"
    space_id: strawberry.ID = strawberry.field(description="The space whose draft it shows.")
    note: str = strawberry.field(description="Who or what the link is for (free text).")
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    pk: strawberry.Private[uuid.UUID]

    @classmethod
    def visible_to(cls, principal: Any, row: Any) -> bool:
        """Keys and sessions share the table: only previews are preview links."""
        return bool(row.kind == PREVIEW)

    @classmethod
    def from_model(cls, row: ApiTokenModel) -> PreviewLink:
        assert row.expires_at is not None  # every preview expires (resolvers/previews.py)
        return cls(
            id=strawberry.ID(encode_id("PreviewLink", row.id)),
            pk=row.id,
            space_id=strawberry.ID(encode_id("Space", row.space_ids[0])),
            note=row.name,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )

    @strawberry.field
    def status(self) -> PreviewLinkStatus:
        if self.revoked_at is not None:
            return PreviewLinkStatus.REVOKED
        if self.expires_at <= datetime.now(UTC):
            return PreviewLinkStatus.EXPIRED
        return PreviewLinkStatus.ACTIVE


@strawberry.enum
class PreviewLinkErrorCode(enum.Enum):
    INVALID_EXPIRY = "invalid_expiry"
    TOO_LONG = "too_long"
    SPACE_ARCHIVED = "space_archived"


@strawberry.type(description="Why the preview link was not made or changed.")
class PreviewLinkUserError(UserError):
    code: PreviewLinkErrorCode
    field: list[str] | None
    message: str


@strawberry.input(description="A preview link for one space's draft.")
class PreviewLinkCreateInput:
    space_id: strawberry.ID
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When the link stops working: in the future, at most 30 days away "
        "(default: 7 days from now).",
    )
    note: str = strawberry.field(default="", description="Who it is for; at most 200 characters.")


@strawberry.type
class PreviewLinkCreatePayload:
    preview_link: PreviewLink | None = None
    secret: str | None = strawberry.field(
        default=None,
        description="Shown once: the credential the widget sends (`preview` attribute).",
    )
    url: str | None = strawberry.field(
        default=None, description="Shown once: the page that shows the draft (`/previews/...`)."
    )
    user_errors: list[PreviewLinkUserError] = strawberry.field(default_factory=list)


@strawberry.type
class PreviewLinkPayload:
    preview_link: PreviewLink | None = None
    user_errors: list[PreviewLinkUserError] = strawberry.field(default_factory=list)
