"""Usage events and per-space analytics, with small groups suppressed (k-anonymity)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import strawberry

from models.usage import UsageAction
from schema.blocks import Block
from schema.context import Info
from schema.errors import UserError


@strawberry.enum
class UsageErrorCode(enum.Enum):
    NO_CONSENT = "no_consent"
    BLOCK_NOT_IN_SPACE = "block_not_in_space"
    NOT_A_DOWNLOAD = "not_a_download"


strawberry.enum(
    UsageAction,
    name="UsageAction",
    description="What a contact did: viewed a space or block, or downloaded a file block's file.",
)


@strawberry.type(description="Why no usage event was stored.")
class UsageUserError(UserError):
    code: UsageErrorCode
    field: list[str] | None
    message: str


@strawberry.input(
    description="A contact viewed a space, or one block of it, or downloaded a file block's file."
)
class UsageRecordInput:
    contact_id: strawberry.ID
    space_id: strawberry.ID
    block_id: strawberry.ID | None = None
    action: UsageAction = strawberry.field(
        default=UsageAction.VIEW,
        description="VIEW unless given; DOWNLOAD names the file block (`blockId`).",
    )


@strawberry.type
class UsageRecordPayload:
    recorded: bool | None = strawberry.field(
        default=False,
        description="Whether the event was stored (it is only with analytics consent); null "
        "for a caller who may not read consent, to whom the answer must not reveal it.",
    )
    accepted: bool = strawberry.field(
        default=False, description="The request was valid and processed."
    )
    user_errors: list[UsageUserError] = strawberry.field(default_factory=list)


@strawberry.type(description="Views of one block. Counts are null when suppressed.")
class BlockAnalytics:
    views: int | None
    unique_viewers: int | None
    suppressed: bool
    downloads: int | None = strawberry.field(
        default=None, description="Downloads of a file block's file; null when suppressed."
    )
    unique_downloaders: int | None = strawberry.field(default=None)
    downloads_suppressed: bool = strawberry.field(
        default=False,
        description="The downloads would describe fewer than `minimumGroupSize` contacts.",
    )
    block_pk: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def block(self, info: Info) -> Block | None:
        row = await info.context.loaders.block_by_id.load(self.block_pk)
        return Block.from_model(row) if row else None


@strawberry.type(
    description="Views of a space over a time range. For callers who may not see individual "
    "contacts, every count that would describe fewer than `minimumGroupSize` distinct contacts "
    "(including zero) is null and `suppressed` is true."
)
class SpaceAnalytics:
    since: datetime
    until: datetime
    minimum_group_size: int
    views: int | None = strawberry.field(description="Views of the space page (not of blocks).")
    unique_viewers: int | None
    suppressed: bool
    blocks: list[BlockAnalytics] = strawberry.field(
        description="Every block of the space, in order."
    )
