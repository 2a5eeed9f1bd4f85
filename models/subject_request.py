"""Data-subject requests (GDPR Art. 12, 15-17, 20), their trail, and the suppression list."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, String, Table, Text, Uuid, case, func, literal
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import EMAIL_MAX, Base, TenantScoped
from models.pii import ERASED


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


State = RequestState
# Every state change a request may make; None is "not filed yet". A state to itself is a
# note in the trail without a change (a due-date extension), allowed while the request is
# open. privacy/requests.py `transition` checks this table and writes the trail row.
TRANSITIONS: dict[RequestState | None, frozenset[RequestState]] = {
    None: frozenset({State.RECEIVED}),
    State.RECEIVED: frozenset({State.RECEIVED, State.VERIFYING, State.VERIFIED, State.REJECTED}),
    State.VERIFYING: frozenset({State.VERIFYING, State.VERIFIED, State.REJECTED}),
    State.VERIFIED: frozenset({State.VERIFIED, State.PROCESSING, State.REJECTED}),
    State.PROCESSING: frozenset({State.PROCESSING, State.COMPLETED}),
    State.COMPLETED: frozenset(),
    State.REJECTED: frozenset(),
}
# a request is open until it can move no further (completed or rejected)
OPEN_STATES = tuple(s.value for s in RequestState if TRANSITIONS[s])


def _keyed_hash(requests: Table) -> ColumnElement[str]:
    # the subject kept only as its keyed hash: still findable by the hash, no longer readable
    return func.concat("hmac:", func.encode(requests.c.subject_hash, "hex"))


def _erased_reason(requests: Table) -> ColumnElement[str | None]:
    # a rejected request must name a reason (CHECK): the member's text gives way to a marker
    reason = requests.c.rejection_reason
    return case((reason.is_(None), None), else_=literal(ERASED_TEXT))


# what members' free text about a subject becomes once the subject is erased
ERASED_TEXT = "[erased with the subject]"


class SubjectRequest(TenantScoped, Base):
    __tablename__ = "subject_requests"

    kind: Mapped[str] = mapped_column(String(16))
    # the subject as given (normalised); replaced by its keyed hash once an erasure completes
    subject_email: Mapped[str] = mapped_column(
        String(EMAIL_MAX), info={"pii": "user.contact.email", ERASED: _keyed_hash}
    )
    # HMAC of the normalised e-mail: finds the subject's requests without holding the address
    subject_hash: Mapped[bytes] = mapped_column(LargeBinary)
    # the contacts matched when the request was filed (ids only)
    contact_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    state: Mapped[str] = mapped_column(String(16), default=RequestState.RECEIVED.value)
    # free text by members: may name the person, so it is personal and erased with them
    rejection_reason: Mapped[str | None] = mapped_column(
        Text, info={"pii": "user", ERASED: _erased_reason}
    )
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
