"""Data-subject requests (GDPR Art. 12, 15-17, 20), their trail, and the suppression list."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped


class RequestKind(str, enum.Enum):
    ACCESS = "access"
    PORTABILITY = "portability"
    CORRECTION = "correction"
    ERASURE = "erasure"


class RequestState(str, enum.Enum):
    RECEIVED = "received"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    PROCESSING = "processing"
    COMPLETED = "completed"
    REJECTED = "rejected"


OPEN_STATES = ("received", "verifying", "verified", "processing")


class SubjectRequest(TenantScoped, Base):
    __tablename__ = "subject_requests"

    kind: Mapped[str] = mapped_column(String(16))
    # the subject as given (normalised); replaced by its keyed hash once an erasure completes
    subject_email: Mapped[str] = mapped_column(String(320), info={"pii": "user.contact.email"})
    # HMAC of the normalised e-mail: finds the subject's requests without holding the address
    subject_hash: Mapped[bytes] = mapped_column(LargeBinary)
    # the contacts matched when the request was filed (ids only)
    contact_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    state: Mapped[str] = mapped_column(String(16), default=RequestState.RECEIVED.value)
    # free text by members: may name the person, so it is personal and erased with them
    rejection_reason: Mapped[str | None] = mapped_column(Text, info={"pii": "user"})
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    due_at: Mapped[datetime]
    extended_at: Mapped[datetime | None]
    extension_reason: Mapped[str | None] = mapped_column(Text, info={"pii": "user"})
    verification_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    verified_by: Mapped[str | None] = mapped_column(String(16))  # token | attestation
    # correction: {field: new value}; cleared once applied
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONB, info={"pii": "user"})
    # erasure progress: the steps done so far, so a crashed run resumes where it stopped
    progress: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    completed_at: Mapped[datetime | None]
    created_by_kind: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None]


class SubjectRequestEvent(TenantScoped, Base):
    """One state change of a subject request: who, from, to, when, and a note."""

    __tablename__ = "subject_request_events"

    request_id: Mapped[uuid.UUID]
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    # a member's attestation or reason may name the person
    note: Mapped[str | None] = mapped_column(Text, info={"pii": "user"})
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())


class Suppression(TenantScoped, Base):
    """An erased subject: no re-import, no e-mail. Keyed by an HMAC, never the address."""

    __tablename__ = "suppressions"

    email_hash: Mapped[bytes] = mapped_column(LargeBinary)
    request_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DomainEvent(TenantScoped, Base):
    """The transactional outbox for subscribers (webhooks): ids and field names, no values."""

    __tablename__ = "domain_events"

    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    delivered_at: Mapped[datetime | None]
