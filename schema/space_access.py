"""Space access types: a contact invited to a space, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar

import strawberry

from core.ids import encode_id
from models import SpaceAccess as SpaceAccessModel
from models.space_access import AccessState
from schema.contacts import Contact
from schema.context import Info
from schema.errors import UserError
from schema.node import Node
from schema.permissions import Can
from schema.personal_data import backed_by, personal

if TYPE_CHECKING:
    from schema.spaces import Space


# the model's enum, published under its GraphQL name (declared once, in models/)
strawberry.enum(AccessState, name="AccessState")


@strawberry.type(description="A contact's access to a space: invited, accepted or revoked.")
@backed_by(
    SpaceAccessModel, public=("state", "invited_at", "revoked_at", "created_at", "updated_at")
)
class SpaceAccess(Node):
    node_policy: ClassVar[str | None] = "SpaceAccess"
    node_loader: ClassVar[str | None] = "space_access_by_id"
    state: AccessState
    invited_at: datetime
    accepted_at: datetime | None = personal(SpaceAccessModel.accepted_at)
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[uuid.UUID]
    space_pk: strawberry.Private[uuid.UUID]
    contact_pk: strawberry.Private[uuid.UUID]

    @property
    def subject_pk(self) -> uuid.UUID:
        return self.contact_pk

    @classmethod
    def from_model(cls, row: SpaceAccessModel) -> SpaceAccess:
        return cls(
            id=strawberry.ID(encode_id("SpaceAccess", row.id)),
            pk=row.id,
            space_pk=row.space_id,
            contact_pk=row.contact_id,
            state=AccessState(row.state),
            invited_at=row.invited_at,
            accepted_at=row.accepted_at,
            revoked_at=row.revoked_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(extensions=[Can("Contact", "read")])
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact_by_id.load(self.contact_pk)
        return Contact.from_model(row) if row else None

    @strawberry.field(extensions=[Can("Space", "read")])
    async def space(self, info: Info) -> Annotated[Space, strawberry.lazy("schema.spaces")] | None:
        from schema.spaces import Space

        row = await info.context.loaders.space_by_id.load(self.space_pk)
        return Space.from_model(row) if row else None


@strawberry.enum
class SpaceAccessErrorCode(enum.Enum):
    REQUIRED = "required"
    TOO_MANY = "too_many"
    TOO_LONG = "too_long"


@strawberry.type(description="Why a space access mutation was refused; nothing was changed.")
class SpaceAccessUserError(UserError):
    code: SpaceAccessErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class SpaceInviteInput:
    space_id: strawberry.ID
    contact_ids: list[strawberry.ID] = strawberry.field(description="At most 100 contacts.")
    message: str | None = strawberry.field(
        default=None,
        description="A personal note for the invitation e-mail (at most 2,000 characters).",
    )


@strawberry.type
class SpaceInvitePayload:
    space_accesses: list[SpaceAccess] = strawberry.field(
        default_factory=list, description="One per contact, in the order given."
    )
    user_errors: list[SpaceAccessUserError] = strawberry.field(default_factory=list)


@strawberry.type
class SpaceAccessPayload:
    space_access: SpaceAccess | None = None
    user_errors: list[SpaceAccessUserError] = strawberry.field(default_factory=list)
