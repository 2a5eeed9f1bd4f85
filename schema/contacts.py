"""Contact types, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import ClassVar

import strawberry

from core.ids import encode_id
from models import Contact as ContactModel
from schema.connection import nested_connection
from schema.consent import Consent, ConsentEvent
from schema.context import Info
from schema.errors import UserError
from schema.node import Node
from schema.permissions import Can
from schema.personal_data import backed_by, personal
from store.contacts import ACCESS_ORDER, CONSENT_EVENT_ORDER


@strawberry.type(
    description="A person a tenant shares spaces with. Every personal-data field is nullable: "
    "it may be withheld by policy."
)
@backed_by(ContactModel, public=("created_at", "updated_at"))
class Contact(Node):
    node_policy: ClassVar[str | None] = "Contact"
    node_loader: ClassVar[str | None] = "contact_by_id"
    email: str | None = personal(ContactModel.email, description="Trimmed and lower-cased.")
    full_name: str | None = personal(ContactModel.full_name)
    company: str | None = personal(ContactModel.company)
    job_title: str | None = personal(ContactModel.job_title)
    phone: str | None = personal(ContactModel.phone)
    locale: str | None = personal(
        ContactModel.locale, description="A BCP 47 language tag, e.g. `de-CH`."
    )
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[uuid.UUID]

    @property
    def subject_pk(self) -> uuid.UUID:
        return self.pk

    @classmethod
    def from_model(cls, row: ContactModel) -> Contact:
        return cls(
            id=strawberry.ID(encode_id("Contact", row.id)),
            pk=row.id,
            email=row.email,
            full_name=row.full_name,
            company=row.company,
            job_title=row.job_title,
            phone=row.phone,
            locale=row.locale,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(
        description="The current consent per purpose, derived from the history.",
        extensions=[Can("Consent", "read")],
    )
    async def consents(self, info: Info) -> list[Consent] | None:
        latest = await info.context.loaders.consents_by_contact_id.load(self.pk)
        return Consent.for_all_purposes(latest, self.pk)

    consent_history = nested_connection(
        ConsentEvent,
        pages="consent_events_by_contact_id",
        counts="consent_event_count_by_contact_id",
        order=CONSENT_EVENT_ORDER,
        description="Every consent event of this contact, newest first.",
        extensions=[Can("Consent", "read")],
        nullable=True,
    )
    spaces = nested_connection(
        "schema.space_access.SpaceAccess",
        pages="space_access_by_contact_id",
        counts="space_access_count_by_contact_id",
        order=ACCESS_ORDER,
        description="The spaces this contact was invited to, with the state of each invitation.",
        extensions=[Can("SpaceAccess", "read")],
        nullable=True,
    )


@strawberry.enum
class ContactErrorCode(enum.Enum):
    REQUIRED = "required"
    TOO_LONG = "too_long"
    INVALID_EMAIL = "invalid_email"
    DUPLICATE_EMAIL = "duplicate_email"
    INVALID_PHONE = "invalid_phone"
    INVALID_LOCALE = "invalid_locale"
    INVALID_CHARACTERS = "invalid_characters"
    TOO_MANY_ROWS = "too_many_rows"
    SUPPRESSED = "suppressed"


@strawberry.type(description="Why a contact mutation was refused; nothing was changed.")
class ContactUserError(UserError):
    code: ContactErrorCode
    field: list[str] | None
    message: str
    row: int | None = strawberry.field(
        default=None, description="In an import: the zero-based index of the row at fault."
    )


@strawberry.input
class ContactCreateInput:
    email: str
    full_name: str | None = None
    company: str | None = None
    job_title: str | None = None
    phone: str | None = None
    locale: str | None = None


@strawberry.input(description="Omitted fields stay as they are; an empty string clears one.")
class ContactUpdateInput:
    id: strawberry.ID
    email: str | None = None
    full_name: str | None = None
    company: str | None = None
    job_title: str | None = None
    phone: str | None = None
    locale: str | None = None


@strawberry.input
class ContactImportInput:
    contacts: list[ContactCreateInput] = strawberry.field(
        description="At most 1,000 rows; if any row is invalid, none is imported."
    )


@strawberry.type
class ContactPayload:
    contact: Contact | None = None
    user_errors: list[ContactUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ContactDeletePayload:
    deleted_contact_id: strawberry.ID | None = None
    user_errors: list[ContactUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ContactImportPayload:
    imported_count: int = 0
    contacts: list[Contact] = strawberry.field(
        default_factory=list, description="The imported contacts, in the order of the rows."
    )
    user_errors: list[ContactUserError] = strawberry.field(default_factory=list)
