"""The erasure journal: what is needed to repeat each completed erasure, and nothing else.

A backup restored from before an erasure would bring the person back; `microspace
erasure-replay` reads these entries and erases them again. Ids, the suppression HMAC and a
time: no personal data of its own.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped


class JournalKind(str, enum.Enum):
    CONTACT = "contact"  # a subject's erasure: contact id (if matched) and suppression HMAC
    MEMBER = "member"  # a member who left the tenant
    TENANT = "tenant"  # the account's personal data, purged by retention
    ACCOUNT = "account"  # the whole account, deleted by its owners (app_delete_tenant)


class ErasureJournalEntry(TenantScoped, Base):
    __tablename__ = "erasure_journal"

    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID | None]
    email_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    erased_at: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))
