"""The consent ledger: an append-only history of what each contact agreed to, per purpose.

The current state of a purpose is the latest event for it (resolvers/consent.py
`current_consents`); it is never stored a second time.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped
from models.privacy import SubjectLink


class ConsentPurpose(str, enum.Enum):
    MARKETING_EMAIL = "marketing_email"
    PRODUCT_UPDATES = "product_updates"
    ANALYTICS = "analytics"
    COOKIES = "cookies"


class ConsentAction(str, enum.Enum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class ConsentSource(str, enum.Enum):
    FORM = "form"
    WIDGET = "widget"
    API = "api"
    IMPORT = "import"
    # the contact's own POST to the one-click unsubscribe link of an e-mail (RFC 8058)
    ONE_CLICK = "one_click"


class ConsentEvent(TenantScoped, Base):
    __tablename__ = "consent_events"
    __subject__ = SubjectLink("contact_id", "delete", ledger=True)
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
        Index("ix_consent_events_current", "tenant_id", "contact_id", "purpose", "occurred_at"),
    )
    __mapper_args__ = {"eager_defaults": True}

    contact_id: Mapped[uuid.UUID] = mapped_column(info={"pii": "user.unique_id.pseudonymous"})
    # the purpose is our own label; what it says about the person is in action and occurred_at
    purpose: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16), info={"pii": "user.privacy_preferences"})
    source: Mapped[str] = mapped_column(String(16))
    policy_version: Mapped[str | None] = mapped_column(String(50))
    # free text proving the consent (form wording, IP, ticket...): may name the person
    evidence: Mapped[str | None] = mapped_column(Text, info={"pii": "user"})
    # clock_timestamp, not now(): two events of one transaction keep their order
    occurred_at: Mapped[datetime] = mapped_column(
        server_default=text("clock_timestamp()"), info={"pii": "user.privacy_preferences"}
    )
    # the API token that recorded the event (who, for the audit trail)
    recorded_by: Mapped[uuid.UUID | None]
