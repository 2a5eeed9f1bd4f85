"""The audit log of personal-data reads and changes, and tenant policy overrides.

Audit entries hold ids and field names only, never values: they carry no personal data
that an erasure would have to rewrite. The database chains each tenant's entries by hash
(`audit_chain` trigger) and refuses updates and deletes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped
from models.privacy import SubjectLink


class AuditEntry(TenantScoped, Base):
    __tablename__ = "audit_log"
    __subject__ = SubjectLink(
        "subject_contact_ids",
        "keep",
        legal_basis="GDPR Art. 5(2) accountability; entries hold ids and field names, no values",
        many=True,
    )

    seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    principal_kind: Mapped[str] = mapped_column(String(16))
    principal_id: Mapped[uuid.UUID | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(32))
    # the contacts the entry is about: one entry per request and operation and field set
    subject_contact_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary, server_default="")
    hash: Mapped[bytes] = mapped_column(LargeBinary, server_default="")


class PolicyRule(TenantScoped, Base):
    """A tenant's override of the default policy: (subject, object, action) -> allow/deny."""

    __tablename__ = "policy_rules"

    subject: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    effect: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
