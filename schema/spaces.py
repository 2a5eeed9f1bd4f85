"""Space types, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from core.ids import encode_id
from models import Space as SpaceModel
from schema.blocks import Block
from schema.connection import Connection, OrderDirection, child_connection
from schema.context import Info
from schema.node import Node
from schema.permissions import Can
from store.loaders import ACCESS_ORDER, BLOCK_ORDER

if TYPE_CHECKING:
    from schema.space_access import SpaceAccess


@strawberry.enum
class SpaceStatus(enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


@strawberry.type(description="A personalised page a tenant shares with its clients.")
class Space(Node):
    title: str
    slug: str
    description: str
    status: SpaceStatus
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    pk: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: SpaceModel) -> Space:
        return cls(
            id=strawberry.ID(encode_id("Space", row.id)),
            pk=row.id,
            title=row.title,
            slug=row.slug,
            description=row.description,
            status=SpaceStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            published_at=row.published_at,
        )

    @strawberry.field(description="The space's content blocks, in order.")
    async def blocks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Block]:
        loaders = info.context.loaders
        return await child_connection(
            info,
            self.pk,
            first,
            after,
            last=last,
            before=before,
            order=BLOCK_ORDER,
            pages=loaders.blocks_by_space_id,
            counts=loaders.block_count_by_space_id,
            convert=Block.from_model,
        )

    @strawberry.field(
        description="The contacts this space is shared with: one access per contact, any state.",
        extensions=[Can("SpaceAccess", "read")],
    )
    async def contacts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[SpaceAccess, strawberry.lazy("schema.space_access")]] | None:
        from schema.space_access import SpaceAccess

        loaders = info.context.loaders
        return await child_connection(
            info,
            self.pk,
            first,
            after,
            order=ACCESS_ORDER,
            pages=loaders.space_access_by_space_id,
            counts=loaders.space_access_count_by_space_id,
            convert=SpaceAccess.from_model,
        )


@strawberry.enum
class SpaceOrderField(enum.Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    TITLE = "title"


@strawberry.input(description="How to order spaces; ties are broken by ID.")
class SpaceOrder:
    field: SpaceOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.enum
class SpaceErrorCode(enum.Enum):
    REQUIRED = "required"
    TOO_LONG = "too_long"
    INVALID_SLUG = "invalid_slug"
    DUPLICATE_SLUG = "duplicate_slug"
    INVALID_STATE = "invalid_state"


@strawberry.type(description="Why a space mutation was refused; nothing was changed.")
class SpaceUserError:
    code: SpaceErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class SpaceCreateInput:
    title: str
    slug: str | None = strawberry.field(
        default=None,
        description="Lower-case words joined by hyphens; derived from the title if omitted.",
    )
    description: str | None = None


@strawberry.input
class SpaceUpdateInput:
    id: strawberry.ID
    title: str | None = None
    slug: str | None = None
    description: str | None = None


@strawberry.type
class SpacePayload:
    space: Space | None = None
    user_errors: list[SpaceUserError] = strawberry.field(default_factory=list)


@strawberry.type
class SpaceDeletePayload:
    deleted_space_id: strawberry.ID | None = None
    user_errors: list[SpaceUserError] = strawberry.field(default_factory=list)
