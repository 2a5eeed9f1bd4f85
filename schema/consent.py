"""Consent types: the current state per purpose, the ledger's events, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar

import strawberry

from core.ids import encode_id
from models import ConsentEvent as ConsentEventModel
from models.consent import ConsentAction, ConsentPurpose, ConsentSource
from schema.context import Info
from schema.errors import UserError
from schema.node import Node
from schema.permissions import Can
from schema.personal_data import backed_by, personal

if TYPE_CHECKING:
    from schema.contacts import Contact


# the model's enums, published under their GraphQL names (declared once, in models/)
strawberry.enum(ConsentPurpose, name="ConsentPurpose")
strawberry.enum(ConsentSource, name="ConsentSource")
strawberry.enum(ConsentAction, name="ConsentAction")


@strawberry.enum
class ConsentState(enum.Enum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    NOT_GIVEN = "not_given"


# a consent's source and policy version exist only once consent was given or withdrawn:
# shown to a caller from whom the state is withheld, they would reveal it
REVEALS_CONSENT = "user.privacy_preferences"


@strawberry.type(description="The current consent of a contact for one purpose (its latest event).")
@backed_by(ConsentEventModel, public=("purpose",))
class Consent:
    purpose: ConsentPurpose
    # personal data (privacy preferences): nullable so that redaction can withhold it
    state: ConsentState | None = personal(ConsentEventModel.action)
    granted: bool | None = personal(ConsentEventModel.action)
    changed_at: datetime | None = personal(ConsentEventModel.occurred_at)
    source: ConsentSource | None = personal(ConsentEventModel.source, category=REVEALS_CONSENT)
    policy_version: str | None = personal(
        ConsentEventModel.policy_version, category=REVEALS_CONSENT
    )
    subject_pk: strawberry.Private[uuid.UUID | None] = None

    @classmethod
    def for_all_purposes(
        cls, latest: dict[str, ConsentEventModel], contact_pk: uuid.UUID
    ) -> list[Consent]:
        """One entry per purpose, NOT_GIVEN where the ledger holds no event."""
        out = []
        for purpose in ConsentPurpose:
            event = latest.get(purpose.value)
            out.append(cls.from_event(purpose, event, contact_pk))
        return out

    @classmethod
    def from_event(
        cls, purpose: ConsentPurpose, event: ConsentEventModel | None, contact_pk: uuid.UUID
    ) -> Consent:
        if event is None:
            return cls(
                purpose=purpose,
                state=ConsentState.NOT_GIVEN,
                granted=False,
                changed_at=None,
                source=None,
                policy_version=None,
                subject_pk=contact_pk,
            )
        return cls(
            subject_pk=contact_pk,
            purpose=purpose,
            state=ConsentState(event.action),
            granted=event.action == "granted",
            changed_at=event.occurred_at,
            source=ConsentSource(event.source),
            policy_version=event.policy_version,
        )


@strawberry.type(description="One entry of a contact's append-only consent ledger.")
@backed_by(ConsentEventModel, public=("purpose",))
class ConsentEvent(Node):
    node_policy: ClassVar[str | None] = "Consent"
    node_loader: ClassVar[str | None] = "consent_event_by_id"
    purpose: ConsentPurpose
    action: ConsentAction | None = personal(ConsentEventModel.action)
    source: ConsentSource | None = personal(ConsentEventModel.source, category=REVEALS_CONSENT)
    policy_version: str | None = personal(
        ConsentEventModel.policy_version, category=REVEALS_CONSENT
    )
    evidence: str | None = personal(ConsentEventModel.evidence, description="Free-form proof.")
    occurred_at: datetime | None = personal(ConsentEventModel.occurred_at)
    contact_pk: strawberry.Private[uuid.UUID]

    @property
    def subject_pk(self) -> uuid.UUID:
        return self.contact_pk

    @classmethod
    def from_model(cls, row: ConsentEventModel) -> ConsentEvent:
        return cls(
            id=strawberry.ID(encode_id("ConsentEvent", row.id)),
            contact_pk=row.contact_id,
            purpose=ConsentPurpose(row.purpose),
            action=ConsentAction(row.action),
            source=ConsentSource(row.source),
            policy_version=row.policy_version,
            evidence=row.evidence,
            occurred_at=row.occurred_at,
        )

    @strawberry.field(
        description="The contact this event is about.", extensions=[Can("Contact", "read")]
    )
    async def contact(
        self, info: Info
    ) -> Annotated[Contact, strawberry.lazy("schema.contacts")] | None:
        from schema.contacts import Contact

        row = await info.context.loaders.contact_by_id.load(self.contact_pk)
        return Contact.from_model(row) if row else None


@strawberry.enum
class ConsentErrorCode(enum.Enum):
    REQUIRED = "required"
    TOO_LONG = "too_long"


@strawberry.type(description="Why a consent mutation was refused; nothing was recorded.")
class ConsentUserError(UserError):
    code: ConsentErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class ConsentGrantInput:
    contact_id: strawberry.ID
    purpose: ConsentPurpose
    policy_version: str = strawberry.field(description="The version of the text agreed to.")
    source: ConsentSource = ConsentSource.API
    evidence: str | None = strawberry.field(default=None, description="At most 2,000 characters.")


@strawberry.input
class ConsentWithdrawInput:
    contact_id: strawberry.ID
    purpose: ConsentPurpose
    source: ConsentSource = ConsentSource.API
    policy_version: str | None = None
    evidence: str | None = strawberry.field(default=None, description="At most 2,000 characters.")


@strawberry.type
class ConsentPayload:
    consent: Consent | None = None
    event: ConsentEvent | None = None
    user_errors: list[ConsentUserError] = strawberry.field(default_factory=list)
