"""Trusted documents: what a tenant's widgets may run, registered by SHA-256."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from models import PersistedDocument as PersistedDocumentModel
from schema.errors import UserError


@strawberry.type(description="A GraphQL document a tenant registered by its SHA-256.")
class PersistedDocument:
    sha256: str = strawberry.field(description="Hex SHA-256 of the document's exact text.")
    trusted: bool = strawberry.field(description="Widgets and visitors may run it.")
    created_at: datetime

    @classmethod
    def from_model(cls, row: PersistedDocumentModel) -> PersistedDocument:
        return cls(sha256=row.sha256, trusted=row.trusted, created_at=row.created_at)


@strawberry.enum
class PersistedDocumentErrorCode(enum.Enum):
    INVALID_DOCUMENT = "invalid_document"
    HASH_MISMATCH = "hash_mismatch"
    TOO_LONG = "too_long"


@strawberry.type(description="Why the document was not registered.")
class PersistedDocumentUserError(UserError):
    code: PersistedDocumentErrorCode
    field: list[str] | None
    message: str


@strawberry.input(description="A document to trust for the tenant's widgets.")
class PersistedDocumentRegisterInput:
    document: str = strawberry.field(description="The exact text; its SHA-256 is its key.")
    sha256: str | None = strawberry.field(
        default=None, description="If given, must equal the document's SHA-256."
    )


@strawberry.type
class PersistedDocumentPayload:
    document: PersistedDocument | None = None
    user_errors: list[PersistedDocumentUserError] = strawberry.field(default_factory=list)
