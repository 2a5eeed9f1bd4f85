"""Space types, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar

import strawberry

from core.ids import encode_id
from models import Space as SpaceModel
from models.space import SpaceStatus
from schema.blocks import LOCALE, Block, localised_blocks
from schema.brand import Brand
from schema.connection import Connection, OrderDirection, nested_connection
from schema.context import Info
from schema.errors import UserError
from schema.node import Node
from schema.permissions import Can
from schema.revisions import SpaceRevision
from store.contacts import ACCESS_ORDER
from store.revisions import REVISION_ORDER, SpaceState, revision_by_number
from store.spaces import BLOCK_ORDER

if TYPE_CHECKING:
    from schema.contacts import Contact

# the model's enum, published under its GraphQL name (declared once, in models/)
strawberry.enum(SpaceStatus, name="SpaceStatus")


@strawberry.type(description="A personalised page a tenant shares with its clients.")
class Space(Node):
    node_policy: ClassVar[str | None] = "Space"
    node_loader: ClassVar[str | None] = "space_by_id"
    title: str
    slug: str
    description: str
    status: SpaceStatus
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    is_template: bool = strawberry.field(
        description="A template: `spacePersonalise` makes personalised spaces from it."
    )
    follows_template: bool = strawberry.field(
        description="A personalised space that publishing its template republishes."
    )
    title_overridden: bool = strawberry.field(
        description="In a personalised space: a member changed its title, so republishing "
        "the template leaves the title alone."
    )
    description_overridden: bool = strawberry.field(
        description="In a personalised space: a member changed its description, so "
        "republishing the template leaves the description alone."
    )
    pk: strawberry.Private[uuid.UUID]
    template_pk: strawberry.Private[uuid.UUID | None]
    contact_pk: strawberry.Private[uuid.UUID | None]
    published_revision_pk: strawberry.Private[uuid.UUID | None] = None

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
            is_template=row.is_template,
            follows_template=row.follows_template,
            title_overridden=row.title_overridden,
            description_overridden=row.description_overridden,
            template_pk=row.template_id,
            contact_pk=row.contact_id,
            published_revision_pk=row.published_revision_id,
        )

    @strawberry.field(description="The template this space was personalised from.")
    async def template(self, info: Info) -> Space | None:
        if self.template_pk is None:
            return None
        row = await info.context.loaders.space_by_id.load(self.template_pk)
        return Space.from_model(row) if row else None

    @strawberry.field(
        description="The contact this space was personalised for: its merge fields show "
        "their data to members (as their role allows).",
        extensions=[Can("Contact", "read")],
    )
    async def personalised_for(
        self, info: Info
    ) -> Annotated[Contact, strawberry.lazy("schema.contacts")] | None:
        from schema.contacts import Contact

        if self.contact_pk is None:
            return None
        row = await info.context.loaders.contact_by_id.load(self.contact_pk)
        return Contact.from_model(row) if row else None

    @strawberry.field(
        description="Never published, published, changed since published, "
        "unpublished (withdrawn, kept in history) or archived."
    )
    async def state(self, info: Info) -> SpaceState:
        if info.context.principal.kind in ("widget", "visitor"):
            return SpaceState.PUBLISHED  # they read published revisions only
        state: SpaceState = await info.context.loaders.space_state_by_id.load(self.pk)
        return state

    revisions = nested_connection(
        SpaceRevision,
        pages="revisions_by_space_id",
        counts="revision_count_by_space_id",
        order=REVISION_ORDER,
        description="The space's published revisions, newest first.",
        extensions=[Can("SpaceRevision", "read")],
        nullable=True,
    )

    @strawberry.field(
        description="One revision by its number.", extensions=[Can("SpaceRevision", "read")]
    )
    async def revision(self, info: Info, number: int) -> SpaceRevision | None:
        row = await revision_by_number(info.context.db, self.pk, number)
        return SpaceRevision.from_model(row) if row is not None else None

    @strawberry.field(
        description="The published revision (what widgets and visitors read unless the "
        "space is archived); null when none is.",
        extensions=[Can("SpaceRevision", "read")],
    )
    async def published(self, info: Info) -> SpaceRevision | None:
        if self.published_revision_pk is None:
            return None
        row = await info.context.loaders.space_revision_by_id.load(self.published_revision_pk)
        return SpaceRevision.from_model(row) if row is not None else None

    @strawberry.field(description="The space's content blocks, in order.")
    async def blocks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        locale: Annotated[str | None, strawberry.argument(description=LOCALE)] = None,
    ) -> Connection[Block]:
        loaders = info.context.loaders
        return await localised_blocks(
            info,
            self.pk,
            (first, after, last, before),
            locale,
            order=BLOCK_ORDER,
            pages=loaders.blocks_by_space_id,
            counts=loaders.block_count_by_space_id,
        )

    @strawberry.field(description="The tenant's brand, which its widgets show the space in.")
    async def brand(self, info: Info) -> Brand:
        tenant_id = info.context.db.tenant_id  # a request reads one tenant's spaces
        assert tenant_id is not None
        return Brand.from_document(await info.context.loaders.brand_by_tenant_id.load(tenant_id))

    contacts = nested_connection(
        "schema.space_access.SpaceAccess",
        pages="space_access_by_space_id",
        counts="space_access_count_by_space_id",
        order=ACCESS_ORDER,
        description="The contacts this space is shared with: one access per contact, any state.",
        extensions=[Can("SpaceAccess", "read")],
        nullable=True,
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
    PLAN_LIMIT = "plan_limit"
    REVISION_OF_OTHER_SPACE = "revision_of_other_space"


@strawberry.type(description="Why a space mutation was refused; nothing was changed.")
class SpaceUserError(UserError):
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
    is_template: bool | None = strawberry.field(
        default=None, description="Make it a template (docs/content.md)."
    )


@strawberry.input
class SpaceUpdateInput:
    id: strawberry.ID
    title: str | None = None
    slug: str | None = None
    description: str | None = None
    is_template: bool | None = strawberry.field(
        default=None, description="Make it a template, or a template no longer."
    )


@strawberry.type
class SpacePayload:
    space: Space | None = None
    user_errors: list[SpaceUserError] = strawberry.field(default_factory=list)


@strawberry.type
class SpaceDeletePayload:
    deleted_space_id: strawberry.ID | None = None
    user_errors: list[SpaceUserError] = strawberry.field(default_factory=list)
