"""API key types, inputs and payloads. A key's secret appears in one payload only: the one
that created (or rotated) it."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import strawberry

from core.auth import Principal
from core.ids import encode_id
from models import ApiToken as ApiTokenModel
from models.tenant import KEY_KINDS
from policies.reach import reach
from policies.redaction import Decision
from schema.context import Info
from schema.errors import UserError
from schema.node import Node


@strawberry.enum
class ApiKeyKind(enum.Enum):
    PARTNER = "partner"
    WIDGET = "widget"


@strawberry.enum
class ApiKeyStatus(enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@strawberry.enum(description="What a key gets of a personal field.")
class FieldAccess(enum.Enum):
    FULL = "read"
    MASKED = "read_masked"
    WITHHELD = "redacted"


@strawberry.type(description="One personal field of a type and what the key gets of it.")
class FieldReach:
    field: str
    category: str = strawberry.field(description="The fideslang data category.")
    access: FieldAccess


@strawberry.type(description="What a key may do with one type, and read of its personal fields.")
class TypeReach:
    type: str
    actions: list[str] = strawberry.field(description="read, create, update, delete, ...")
    fields: list[FieldReach]
    categories: list[str] = strawberry.field(
        description="The personal-data categories the key reads in full or masked."
    )


@strawberry.type(description="A partner or widget key. Its secret is never shown again.")
class ApiKey(Node):
    node_policy: ClassVar[str | None] = "ApiKey"
    node_loader: ClassVar[str | None] = "api_key_by_id"
    name: str
    kind: ApiKeyKind
    scopes: list[str]
    hint: str = strawberry.field(description="The first characters of the secret.")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_at: datetime | None
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="After a rotation: until when the previous secret still works."
    )
    space_ids: list[strawberry.ID] = strawberry.field(description="Widgets: the spaces shown.")
    allowed_origins: list[str] = strawberry.field(description="Widgets: the embedding origins.")
    pk: strawberry.Private[uuid.UUID]
    tenant_pk: strawberry.Private[uuid.UUID]

    @classmethod
    def visible_to(cls, principal: Any, row: Any) -> bool:
        """Members' sign-in tokens and subjects' magic links share the table: not keys."""
        return bool(row.kind in KEY_KINDS)

    @classmethod
    def from_model(cls, row: ApiTokenModel) -> ApiKey:
        return cls(
            id=strawberry.ID(encode_id("ApiKey", row.id)),
            pk=row.id,
            tenant_pk=row.tenant_id,
            name=row.name,
            kind=ApiKeyKind(row.kind),
            scopes=list(row.scopes or []),
            hint=row.hint,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            rotated_at=row.rotated_at,
            previous_secret_expires_at=row.previous_expires_at,
            space_ids=[strawberry.ID(encode_id("Space", s)) for s in row.space_ids or []],
            allowed_origins=list(row.allowed_origins or []),
        )

    @strawberry.field
    def status(self) -> ApiKeyStatus:
        if self.revoked_at is not None:
            return ApiKeyStatus.REVOKED
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            return ApiKeyStatus.EXPIRED
        return ApiKeyStatus.ACTIVE

    @strawberry.field
    def reach(self, info: Info) -> list[TypeReach]:
        """What this key may do and read, by type and personal-data category, from the
        tenant's current policies: review it before authorising an integration."""
        subjects = tuple(self.scopes) if self.kind is ApiKeyKind.PARTNER else ("widget",)
        principal = Principal(
            kind=self.kind.value, tenant_id=self.tenant_pk, subjects=subjects, token_id=self.pk
        )
        authz = info.context.authz.for_principal(principal)
        return [
            TypeReach(
                type=t.type_name,
                actions=list(t.actions),
                fields=[
                    FieldReach(
                        field=f.field, category=f.category, access=FieldAccess(f.decision.value)
                    )
                    for f in t.fields
                ],
                categories=sorted(
                    {f.category for f in t.fields if f.decision is not Decision.REDACTED}
                ),
            )
            for t in reach(authz)
        ]


@strawberry.enum
class ApiKeyErrorCode(enum.Enum):
    REQUIRED = "required"
    TOO_LONG = "too_long"
    UNKNOWN_SCOPE = "unknown_scope"
    SCOPES_NOT_ALLOWED = "scopes_not_allowed"
    WIDGET_ONLY = "widget_only"
    INVALID_ORIGIN = "invalid_origin"
    INVALID_EXPIRY = "invalid_expiry"
    INVALID_OVERLAP = "invalid_overlap"
    UNKNOWN_SPACE = "unknown_space"
    REVOKED = "revoked"


@strawberry.type(description="Why an API key mutation was refused; nothing was changed.")
class ApiKeyUserError(UserError):
    code: ApiKeyErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class ApiKeyCreateInput:
    kind: ApiKeyKind
    name: str
    scopes: list[str] = strawberry.field(
        default_factory=list, description="Partner keys: scopes from the policy (see docs)."
    )
    expires_at: datetime | None = None
    space_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Widget keys: the spaces the widget may show."
    )
    allowed_origins: list[str] = strawberry.field(
        default_factory=list,
        description="Widget keys: exact origins `scheme://host[:port]` that may embed it.",
    )


@strawberry.input
class ApiKeyRotateInput:
    id: strawberry.ID
    overlap_seconds: int = strawberry.field(
        default=86400,
        description="How long the previous secret keeps working (0 to 604800 s; default a day).",
    )


@strawberry.type
class ApiKeySecretPayload:
    api_key: ApiKey | None = None
    secret: str | None = strawberry.field(
        default=None, description="Shown once: store it now; it cannot be read again."
    )
    user_errors: list[ApiKeyUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey | None = None
    user_errors: list[ApiKeyUserError] = strawberry.field(default_factory=list)
