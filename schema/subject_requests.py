"""Data-subject request types, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import strawberry

from core.ids import encode_id
from models import RequestKind as SubjectRequestKind
from models import RequestState as SubjectRequestState
from models import SubjectRequest as SubjectRequestModel
from models import SubjectRequestEvent as SubjectRequestEventModel
from models.subject_request import OPEN_STATES
from schema.errors import UserError
from schema.node import Node
from schema.personal_data import backed_by, personal

# the model's enums, published under their GraphQL names (declared once, in models/)
strawberry.enum(SubjectRequestKind, name="SubjectRequestKind")
strawberry.enum(SubjectRequestState, name="SubjectRequestState")


@backed_by(
    SubjectRequestEventModel,
    public=("from_state", "to_state", "actor_kind", "actor_id", "occurred_at"),
)
@strawberry.type(description="One step of a request's audit trail.")
class SubjectRequestEvent:
    from_state: SubjectRequestState | None
    to_state: SubjectRequestState
    actor_kind: str
    actor_id: strawberry.ID | None
    note: str | None = personal(SubjectRequestEventModel.note)
    occurred_at: datetime
    subject_pk: strawberry.Private[uuid.UUID | None] = None
    # the request's matched contacts: a note read is audited under each of them
    subject_pks: strawberry.Private[tuple[uuid.UUID, ...]] = ()

    @classmethod
    def from_model(
        cls, row: SubjectRequestEventModel, subjects: tuple[uuid.UUID, ...] = ()
    ) -> SubjectRequestEvent:
        return cls(
            subject_pks=subjects,
            from_state=SubjectRequestState(row.from_state) if row.from_state else None,
            to_state=SubjectRequestState(row.to_state),
            actor_kind=row.actor_kind,
            actor_id=strawberry.ID(str(row.actor_id)) if row.actor_id else None,
            note=row.note,
            occurred_at=row.occurred_at,
        )


@strawberry.type(description="A signed, expiring, single-tenant download of an access export.")
class ExportLink:
    url: str
    json_url: str
    zip_url: str
    expires_at: datetime


@backed_by(
    SubjectRequestModel,
    public=("kind", "state", "received_at", "due_at", "extended_at", "verified_by", "completed_at"),
)
@strawberry.type(
    description="A data subject's request (GDPR Art. 15-17, 20), answered within a month."
)
class SubjectRequest(Node):
    node_policy: ClassVar[str | None] = "SubjectRequest"
    node_loader: ClassVar[str | None] = "subject_request_by_id"
    kind: SubjectRequestKind
    state: SubjectRequestState
    subject_email: str | None = personal(
        SubjectRequestModel.subject_email,
        description="Normalised; once an erasure completes, only its keyed hash (`hmac:...`).",
    )
    received_at: datetime
    due_at: datetime
    extended_at: datetime | None
    # free text written by members: may hold the subject's data (erased with the subject)
    extension_reason: str | None = personal(SubjectRequestModel.extension_reason)
    rejection_reason: str | None = personal(SubjectRequestModel.rejection_reason)
    verified_by: str | None
    completed_at: datetime | None
    matched_count: strawberry.Private[int] = 0
    # the matched contacts: reads of the request's personal fields are audited under each
    subject_pks: strawberry.Private[tuple[uuid.UUID, ...]] = ()
    pk: strawberry.Private[uuid.UUID]
    trail_rows: strawberry.Private[list[SubjectRequestEventModel] | None] = None

    @property
    def subject_pk(self) -> uuid.UUID | None:
        # reads are audited under every matched contact: `subject_pks` (subjects_of)
        return None

    @classmethod
    def visible_to(cls, principal: Any, row: SubjectRequestModel) -> bool:
        """A subject sees only requests about themselves; members see the tenant's."""
        return principal.kind != "subject" or principal.contact_id in (row.contact_ids or [])

    @classmethod
    def from_model(cls, row: SubjectRequestModel) -> SubjectRequest:
        return cls(
            id=strawberry.ID(encode_id("SubjectRequest", row.id)),
            pk=row.id,
            kind=SubjectRequestKind(row.kind),
            state=SubjectRequestState(row.state),
            subject_email=row.subject_email,
            received_at=row.received_at,
            due_at=row.due_at,
            extended_at=row.extended_at,
            extension_reason=row.extension_reason,
            rejection_reason=row.rejection_reason,
            verified_by=row.verified_by,
            completed_at=row.completed_at,
            matched_count=len(row.contact_ids or []),
            subject_pks=tuple(row.contact_ids or ()),
        )

    @strawberry.field(
        description="How many contacts the address matched; null for partner keys, which "
        "would otherwise learn whether any address is held."
    )
    def matched_contact_count(self, info: strawberry.Info) -> int | None:
        if info.context.principal.kind == "partner":
            return None
        return self.matched_count

    @strawberry.field(description="Past its due date and not yet completed or rejected.")
    def overdue(self) -> bool:
        open_ = self.state.value in OPEN_STATES
        return open_ and self.due_at < datetime.now(UTC)

    @strawberry.field(description="Every state change: who, when, from and to.")
    async def trail(self, info: strawberry.Info) -> list[SubjectRequestEvent]:
        rows = await info.context.loaders.subject_request_events_by_request_id.load(self.pk)
        return [SubjectRequestEvent.from_model(r, self.subject_pks) for r in rows]


@strawberry.enum
class SubjectRequestErrorCode(enum.Enum):
    REQUIRED = "required"
    INVALID_EMAIL = "invalid_email"
    TOO_LONG = "too_long"
    INVALID_STATE = "invalid_state"
    INVALID_TOKEN = "invalid_token"
    ALREADY_EXTENDED = "already_extended"
    SUBJECT_MISMATCH = "subject_mismatch"
    INVALID_CHANGES = "invalid_changes"


@strawberry.type(description="Why a subject-request mutation was refused; nothing was changed.")
class SubjectRequestUserError(UserError):
    code: SubjectRequestErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class SubjectRequestInput:
    email: str | None = strawberry.field(
        default=None, description="The subject's address; a subject's own token implies it."
    )


@strawberry.input(description="New values; omitted fields stay as they are.")
class ContactCorrectionInput:
    full_name: str | None = None
    company: str | None = None
    job_title: str | None = None
    phone: str | None = None
    locale: str | None = None


@strawberry.input
class SubjectCorrectionRequestInput:
    email: str | None = None
    changes: ContactCorrectionInput


@strawberry.input
class SubjectRequestVerifyInput:
    id: strawberry.ID
    token: str | None = strawberry.field(
        default=None, description="The code e-mailed to the subject."
    )
    attestation: str | None = strawberry.field(
        default=None, description="A member's note on how the subject's identity was checked."
    )


@strawberry.input
class SubjectRequestReasonInput:
    id: strawberry.ID
    reason: str


@strawberry.type
class SubjectRequestPayload:
    request: SubjectRequest | None = None
    export_link: ExportLink | None = None
    user_errors: list[SubjectRequestUserError] = strawberry.field(default_factory=list)


@strawberry.type
class SubjectLinkPayload:
    token: str | None = strawberry.field(
        default=None,
        description="Always null: the token is e-mailed to the contact's own address.",
        deprecation_reason="The token goes to the contact by e-mail; see `sent`.",
    )
    sent: bool = strawberry.field(
        default=False, description="The link was queued for e-mail to the contact's address."
    )
