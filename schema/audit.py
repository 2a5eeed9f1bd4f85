"""The audit log as a connection for owners and privacy officers."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from core.ids import encode_id
from models.audit import AuditEntry as AuditEntryModel
from schema.node import Node


@strawberry.enum
class AuditOperation(enum.Enum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    IMPORT = "import"
    EXPORT = "export"
    ERASE = "erase"
    CONSENT_GRANTED = "consent_granted"
    CONSENT_WITHDRAWN = "consent_withdrawn"


@strawberry.type(
    description="Who read or changed which personal fields of whom, and when. Holds no values."
)
class AuditEntry(Node):
    seq: int = strawberry.field(description="Position in the tenant's hash chain.")
    occurred_at: datetime
    principal_kind: str
    principal_id: strawberry.ID | None
    request_id: str | None
    operation: str
    subject_contact_ids: list[strawberry.ID]
    fields: list[str]
    hash: str = strawberry.field(description="SHA-256 over the entry and the previous hash, hex.")

    @classmethod
    def from_model(cls, row: AuditEntryModel) -> AuditEntry:
        return cls(
            id=strawberry.ID(encode_id("AuditEntry", row.id)),
            seq=row.seq,
            occurred_at=row.occurred_at,
            principal_kind=row.principal_kind,
            principal_id=strawberry.ID(str(row.principal_id)) if row.principal_id else None,
            request_id=row.request_id,
            operation=row.operation,
            subject_contact_ids=[
                strawberry.ID(encode_id("Contact", c)) for c in row.subject_contact_ids
            ],
            fields=list(row.fields),
            hash=row.hash.hex(),
        )


@strawberry.type
class AuditChainStatus:
    intact: bool
    first_broken_seq: int | None
