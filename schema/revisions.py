"""Published revisions of a space, their blocks, and the diff between two (docs/content.md)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar

import strawberry

from core.ids import encode_id
from models import SpaceRevision as SpaceRevisionModel
from schema.blocks import LOCALE, Block, localised_blocks
from schema.connection import Connection
from schema.context import Info
from schema.node import Node
from store.revisions import AUTHOR_TYPES, REVISION_BLOCK_ORDER, SpaceState

if TYPE_CHECKING:
    from schema.spaces import Space

strawberry.enum(
    SpaceState,
    name="SpaceState",
    description="Where a space stands between its draft and what widgets and visitors see.",
)


@strawberry.type(description="An immutable copy of a space and its blocks, taken when published.")
class SpaceRevision(Node):
    node_policy: ClassVar[str | None] = "SpaceRevision"
    node_loader: ClassVar[str | None] = "space_revision_by_id"
    number: int = strawberry.field(description="1, 2, ... per space, in the order taken.")
    title: str
    slug: str
    description: str
    note: str = strawberry.field(description="What the publisher wrote about this revision.")
    author_kind: str = strawberry.field(
        description="Who published it: member, partner (an API key) or system."
    )
    author_pk: strawberry.Private[uuid.UUID | None]
    created_at: datetime
    pk: strawberry.Private[uuid.UUID]
    space_pk: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: SpaceRevisionModel) -> SpaceRevision:
        return cls(
            id=strawberry.ID(encode_id("SpaceRevision", row.id)),
            pk=row.id,
            space_pk=row.space_id,
            number=row.number,
            title=row.title,
            slug=row.slug,
            description=row.description,
            note=row.note,
            author_kind=row.author_kind,
            author_pk=row.author_id,
            created_at=row.created_at,
        )

    @strawberry.field(description="The member's or API key's ID (null for the system).")
    def author_id(self) -> strawberry.ID | None:
        kind = AUTHOR_TYPES.get(self.author_kind)
        if kind is None or self.author_pk is None:
            return None
        return strawberry.ID(encode_id(kind, self.author_pk))

    @strawberry.field(description="The space's blocks as they were in this revision, in order.")
    async def blocks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        locale: Annotated[str | None, strawberry.argument(description=LOCALE)] = None,
    ) -> Connection[Block]:
        # the revision holds every locale's bodies as they were when it was taken
        loaders = info.context.loaders
        return await localised_blocks(
            info,
            self.pk,
            (first, after, last, before),
            locale,
            order=REVISION_BLOCK_ORDER,
            pages=loaders.blocks_by_revision_id,
            counts=loaders.block_count_by_revision_id,
        )

    @strawberry.field(description="The space (its draft) this revision was taken of.")
    async def space(self, info: Info) -> Annotated[Space, strawberry.lazy("schema.spaces")]:
        from schema.spaces import Space

        row = await info.context.loaders.space_by_id.load(self.space_pk)
        assert row is not None  # revisions are deleted with their space
        return Space.from_model(row)


@strawberry.enum
class BlockChangeKind(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    MOVED = "moved"


@strawberry.type(description="How one block differs between two points of a space's history.")
class BlockChange:
    block_id: strawberry.ID
    change: BlockChangeKind = strawberry.field(
        description="ADDED, REMOVED, CHANGED (its content differs; it may have moved too) "
        "or MOVED (only its position differs)."
    )
    fields: list[str] = strawberry.field(description="The block fields that differ.")
    from_position: int | None
    to_position: int | None


@strawberry.type(description="What changed between two revisions, or a revision and the draft.")
class SpaceRevisionDiff:
    from_number: int
    to_number: int | None = strawberry.field(description="Null: compared with the draft.")
    fields: list[str] = strawberry.field(description="The space fields that differ.")
    blocks: list[BlockChange]
