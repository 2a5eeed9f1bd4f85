"""The customer's account: its billing profile and requests to delete it outright."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import LargeBinary, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped


class TenantProfile(TenantScoped, Base):
    """Who the customer is, for billing: one row per tenant, every value personal data."""

    __tablename__ = "tenant_profiles"

    company_name: Mapped[str | None] = mapped_column(
        String(200), info={"pii": "user.contact.organization"}
    )
    billing_contact_name: Mapped[str | None] = mapped_column(String(200), info={"pii": "user.name"})
    billing_email: Mapped[str | None] = mapped_column(
        String(320), info={"pii": "user.contact.email"}
    )
    billing_address: Mapped[str | None] = mapped_column(Text, info={"pii": "user.contact.address"})
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class AccountDeletion(TenantScoped, Base):
    """An owner's request to delete the whole account, confirmed by a code e-mailed to owners."""

    __tablename__ = "account_deletions"

    requested_by: Mapped[uuid.UUID | None]
    # SHA-256 of the one-time code; the code itself only travels in the e-mail
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    confirmed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
