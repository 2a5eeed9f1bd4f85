"""Content block types, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar

import strawberry
from strawberry.scalars import JSON

from core.ids import encode_id
from models import Block as BlockModel
from models.block import BlockKind
from schema.context import Info
from schema.errors import UserError
from schema.node import Node

if TYPE_CHECKING:
    from schema.spaces import Space


# the model's enum, published under its GraphQL name (declared once, in models/)
strawberry.enum(BlockKind, name="BlockKind")


@strawberry.type(description="A typed, ordered piece of content in a space.")
class Block(Node):
    node_policy: ClassVar[str | None] = "Block"
    node_loader: ClassVar[str | None] = "block_by_id"
    kind: BlockKind
    position: int = strawberry.field(description="Zero-based place in the space.")
    body: JSON = strawberry.field(description="Content; its shape depends on `kind`.")
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[uuid.UUID]
    space_pk: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: BlockModel) -> Block:
        return cls(
            id=strawberry.ID(encode_id("Block", row.id)),
            pk=row.id,
            space_pk=row.space_id,
            kind=BlockKind(row.kind),
            position=row.position,
            body=JSON(row.body),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The space this block belongs to.")
    async def space(self, info: Info) -> Annotated[Space, strawberry.lazy("schema.spaces")]:
        from schema.spaces import Space

        row = await info.context.loaders.space_by_id.load(self.space_pk)
        assert row is not None  # a block's space is deleted with it, in one transaction
        return Space.from_model(row)


@strawberry.enum
class BlockErrorCode(enum.Enum):
    UNKNOWN_KIND = "unknown_kind"
    INVALID_BODY = "invalid_body"
    INVALID_POSITION = "invalid_position"


@strawberry.type(description="Why a block mutation was refused; nothing was changed.")
class BlockUserError(UserError):
    code: BlockErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class BlockAddInput:
    space_id: strawberry.ID
    kind: str = strawberry.field(description="One of the BlockKind values, in lower case.")
    body: JSON
    position: int | None = strawberry.field(default=None, description="Defaults to the end.")


@strawberry.input
class BlockUpdateInput:
    id: strawberry.ID
    body: JSON


@strawberry.input
class BlockMoveInput:
    id: strawberry.ID
    position: int


@strawberry.type
class BlockPayload:
    block: Block | None = None
    user_errors: list[BlockUserError] = strawberry.field(default_factory=list)


@strawberry.type
class BlockRemovePayload:
    deleted_block_id: strawberry.ID | None = None
    user_errors: list[BlockUserError] = strawberry.field(default_factory=list)
