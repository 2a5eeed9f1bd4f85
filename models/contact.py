"""Contacts: the people a tenant shares its spaces with. Every column of theirs is personal data."""

from __future__ import annotations

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import EMAIL_MAX, Base, TenantScoped, Timestamps
from models.privacy import SubjectLink


class Contact(TenantScoped, Timestamps, Base):
    __tablename__ = "contacts"
    __subject__ = SubjectLink("id", "delete")
    # tenant_id first in the unique key: a duplicate can only ever be found in one's own tenant
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        Index("ix_contacts_listing", "tenant_id", "created_at", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    # normalised: trimmed and lower-cased (see resolvers/contacts.py normalise_email)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), info={"pii": "user.contact.email"})
    full_name: Mapped[str | None] = mapped_column(String(200), info={"pii": "user.name"})
    company: Mapped[str | None] = mapped_column(
        String(200), info={"pii": "user.contact.organization"}
    )
    job_title: Mapped[str | None] = mapped_column(String(200), info={"pii": "user.job_title"})
    phone: Mapped[str | None] = mapped_column(String(50), info={"pii": "user.contact.phone_number"})
    locale: Mapped[str | None] = mapped_column(
        String(35), info={"pii": "user.demographic.language"}
    )
