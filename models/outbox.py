"""The e-mail outbox (written in the transaction of the change) and the e-mails sent."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import EMAIL_MAX, Base, TenantScoped
from models.consent import ConsentPurpose
from models.privacy import SubjectLink


class EmailKind(str, enum.Enum):
    SPACE_INVITATION = "space_invitation"
    SPACE_UPDATED = "space_updated"
    MARKETING = "marketing"
    SUBJECT_VERIFICATION = "subject_verification"
    SUBJECT_LINK = "subject_link"
    # to the tenant's owners (members, not contacts): a webhook endpoint keeps failing
    WEBHOOK_FAILING = "webhook_failing"


# e-mail kinds that may only be queued and sent while the contact's consent is granted
CONSENT_FOR_KIND: dict[str, str] = {EmailKind.MARKETING.value: ConsentPurpose.MARKETING_EMAIL.value}


class OutboxStatus(str, enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"
    DEAD = "dead"


class OutboxMessage(TenantScoped, Base):
    __tablename__ = "outbox"
    __subject__ = SubjectLink("contact_id", "delete")
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "space_id"], ["spaces.tenant_id", "spaces.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "member_id"], ["members.tenant_id", "members.id"], ondelete="CASCADE"
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    kind: Mapped[str] = mapped_column(String(32))
    # a contact, or (operational e-mail to the tenant's own people) a member
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        info={"pii": "user.unique_id.pseudonymous"}
    )
    member_id: Mapped[uuid.UUID | None]
    space_id: Mapped[uuid.UUID | None]
    # template parameters (a member's message, a marketing subject and body): free text
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, info={"pii": "user"})
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # an SMTP error often quotes the recipient's address
    last_error: Mapped[str | None] = mapped_column(Text, info={"pii": "user.contact.email"})
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class EmailSent(TenantScoped, Base):
    """One e-mail that left the system, per contact (kept for access requests and proof)."""

    __tablename__ = "emails_sent"
    __subject__ = SubjectLink("contact_id", "delete", ledger=True)
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
        Index("ix_emails_sent_contact", "tenant_id", "contact_id", "sent_at"),
    )
    __mapper_args__ = {"eager_defaults": True}

    contact_id: Mapped[uuid.UUID] = mapped_column(info={"pii": "user.unique_id.pseudonymous"})
    outbox_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str] = mapped_column(String(EMAIL_MAX), info={"pii": "user.contact.email"})
    # rendered with the contact's name
    subject: Mapped[str] = mapped_column(String(300), info={"pii": "user"})
    message_id: Mapped[str] = mapped_column(String(300))
    sent_at: Mapped[datetime] = mapped_column(server_default=func.now())
