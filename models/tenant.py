"""Tenants (customers), their members and their API tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKeyConstraint,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    and_,
    func,
    or_,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import EMAIL_MAX, Base, TenantScoped
from models.pii import ERASED
from models.privacy import SubjectLink


class SubscriptionStatus(str, enum.Enum):
    ACTIVE = "active"
    ENDED = "ended"


class Role(str, enum.Enum):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"
    PRIVACY_OFFICER = "privacy_officer"


class TokenKind(str, enum.Enum):
    MEMBER = "member"
    PARTNER = "partner"
    WIDGET = "widget"
    SUBJECT = "subject"
    VISITOR = "visitor"
    PREVIEW = "preview"


def _erased_address(members: Table) -> ColumnElement[str]:
    # unique per member (the column is unique per tenant) and never deliverable: the
    # `invalid` top-level domain is reserved (RFC 2606)
    return func.concat("erased-", members.c.id, "@invalid")


class Tenant(Base):
    """A customer. Its row is visible only inside its own tenant scope (RLS on `id`)."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    subscription_status: Mapped[str] = mapped_column(
        String(20), default=SubscriptionStatus.ACTIVE.value
    )
    subscription_ends_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # bumped by every change of the tenant's policy overrides (models/audit.py PolicyRule)
    policy_version: Mapped[int] = mapped_column(default=0)
    # set by retention once every personal field of the tenant has been erased
    personal_data_purged_at: Mapped[datetime | None]
    # bumped with every change of the tenant's tokens or members' roles (migration 0061):
    # a principal the fast lane remembers stands while it is the one seen at authentication
    # (each tenant's count starts at a random value of its own)
    credentials_epoch: Mapped[int] = mapped_column(
        BigInteger, server_default=text("floor(random() * 1e15)::bigint")
    )
    # origins whose pages may call the API with member or partner tokens (docs/widget.md)
    cors_origins: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    # where an invitation link lands: the page that embeds the tenant's widget
    visitor_url: Mapped[str | None] = mapped_column(String(2000))
    # the widget's brand (resolvers/brand.py validates it): served with published spaces
    brand: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # content locales, BCP 47 tags (store/locales.py); blocks.body is the default's
    locales: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=lambda: ["en"], server_default="{en}"
    )
    default_locale: Mapped[str] = mapped_column(Text, default="en", server_default="en")


class Member(TenantScoped, Base):
    """A user of one tenant's own frontend, with one role."""

    __tablename__ = "members"

    email: Mapped[str] = mapped_column(
        String(EMAIL_MAX), info={"pii": "user.contact.email", ERASED: _erased_address}
    )
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # the member's own profile (docs/privacy.md "Members"): corrected by the member themself
    full_name: Mapped[str | None] = mapped_column(String(200), info={"pii": "user.name"})
    company: Mapped[str | None] = mapped_column(
        String(200), info={"pii": "user.contact.organization"}
    )
    address: Mapped[str | None] = mapped_column(Text, info={"pii": "user.contact.address"})


# the kinds a tenant issues through the API (apiKeyCreate); member and subject tokens come
# from sign-in and subject links
KEY_KINDS = (TokenKind.PARTNER.value, TokenKind.WIDGET.value)


class ApiToken(TenantScoped, Base):
    """An opaque bearer credential, stored only as its SHA-256 hash."""

    __tablename__ = "api_tokens"
    __mapper_args__ = {"eager_defaults": True}
    __subject__ = SubjectLink("contact_id", "delete")
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "member_id"], ["members.tenant_id", "members.id"], ondelete="CASCADE"
        ),
        # unique within the tenant (the distribution column, docs/scaling.md); looked up by
        # the hash alone through its own index
        UniqueConstraint("tenant_id", "token_hash", name="uq_api_tokens_tenant_token_hash"),
    )

    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, index=True)
    member_id: Mapped[uuid.UUID | None]
    # a subject's magic-link token: the one contact it speaks for
    contact_id: Mapped[uuid.UUID | None]
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]
    # partner and widget keys (resolvers/api_keys.py): checked by app_authenticate on every
    # request, so a revoked or expired key stops working in every process at once
    expires_at: Mapped[datetime | None]
    # the first characters of the secret, to tell keys apart in a list (never enough to use)
    hint: Mapped[str] = mapped_column(String(16), default="")
    created_by: Mapped[uuid.UUID | None]
    # after a rotation the previous secret keeps working until previous_expires_at
    previous_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_expires_at: Mapped[datetime | None]
    rotated_at: Mapped[datetime | None]
    # widget keys: the spaces they may show and the exact origins that may embed them
    space_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    allowed_origins: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    # a visitor session: the space access whose invitation opened it (one per access)
    space_access_id: Mapped[uuid.UUID | None]

    @classmethod
    def live(cls, now: Any = None) -> ColumnElement[bool]:
        """A token that still works: not revoked, not expired (at `now`, the database's by
        default), as `app_token_match` (migration 0016) decides for the token in hand."""
        at = func.now() if now is None else now
        return and_(cls.revoked_at.is_(None), or_(cls.expires_at.is_(None), cls.expires_at > at))
