"""Content block types, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry
from strawberry.scalars import JSON

from core.ids import encode_id
from models import Block as BlockModel
from models.block import BlockKind
from policies.merge import CATEGORIES, merge_reader
from schema.block_bodies import BlockBody, typed_body
from schema.block_inputs import BlockContentInput
from schema.connection import Connection, child_connection
from schema.context import Info
from schema.errors import UserError
from schema.node import Node
from store import locales, merge_fields
from store.merge_fields import has_fields, resolve
from store.pagination import Order, page_request

if TYPE_CHECKING:
    from schema.spaces import Space


LOCALE = (
    "A BCP 47 tag: each block in it, else the nearest locale along the tenant's fallback "
    "chain (`de-AT`, then `de`, then the default; docs/content.md, Locales). `Block.locale` "
    "says which; a malformed tag is INVALID_LOCALE."
)

# the model's enum, published under its GraphQL name (declared once, in models/)
strawberry.enum(BlockKind, name="BlockKind")


async def merged_body(info: Info, space_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """The body with its merge fields filled in for this reader (policies/merge.py): the
    contact values it shows audited, those it withholds reported at this field's path."""
    if not has_fields(body):
        return body
    ctx = info.context
    reader = merge_reader(ctx.principal.kind, ctx.authz)
    if reader is None:
        return resolve(body, None)
    contact = ctx.principal.contact_id if reader.own else None
    key = (space_id, contact, reader.name, reader.company)
    values = await ctx.loaders.merge_values.load(key)
    found = merge_fields.names(body)
    shown = merge_fields.audited(found, values)
    if shown:
        subject = uuid.UUID(values["subject"])
        for name in shown:
            ctx.audit.read(subject, name)
    for group in merge_fields.withheld(found, values, reader.withholding):
        ctx.redactions.append((info.path, CATEGORIES[group]))
    return resolve(body, values)


@strawberry.type(description="A typed, ordered piece of content in a space.")
class Block(Node):
    node_policy: ClassVar[str | None] = "Block"
    node_loader: ClassVar[str | None] = "block_by_id"
    kind: BlockKind
    position: int = strawberry.field(description="Zero-based place in the space.")
    overridden: bool = strawberry.field(
        description="In a personalised space: a member changed this copy of a template block, "
        "so republishing the template leaves it alone."
    )
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[uuid.UUID]
    space_pk: strawberry.Private[uuid.UUID]
    # as stored: merge fields as written, resolved per reader by `body` and `content`
    stored_body: strawberry.Private[dict[str, Any]]

    @strawberry.field(
        description="Content; its shape depends on `kind`. Merge fields are filled in for "
        "the reader (docs/content.md)."
    )
    async def body(self, info: Info) -> JSON:
        return JSON(await merged_body(info, self.space_pk, self.stored_body))

    @strawberry.field(description="The content, as the type of its kind.")
    async def content(self, info: Info) -> BlockBody:
        return typed_body(self.kind.value, await merged_body(info, self.space_pk, self.stored_body))

    # the locale served, when a read asked for one
    served: strawberry.Private[str | None] = None

    @classmethod
    def from_model(cls, row: BlockModel, read: locales.Reading | None = None) -> Block:
        """The block; when a read asked for a locale, in the first of its chain the block
        has a body for (store/locales.py)."""
        served, body = (
            (None, row.body) if read is None else locales.served(read, row.body, row.bodies)
        )
        return cls(
            id=strawberry.ID(encode_id("Block", row.id)),
            pk=row.id,
            space_pk=row.space_id,
            kind=BlockKind(row.kind),
            position=row.position,
            overridden=row.overridden,
            stored_body=body,
            created_at=row.created_at,
            updated_at=row.updated_at,
            served=served,
        )

    @strawberry.field(
        description="The locale this block is served in: the first of the read's fallback "
        "chain it has a body for (docs/content.md, Locales); without `locale:`, the default."
    )
    async def locale(self, info: Info) -> str:
        if self.served is not None:
            return self.served
        tenant_id = info.context.db.tenant_id  # a request reads one tenant's blocks
        assert tenant_id is not None
        tenant = await info.context.loaders.locales_by_tenant_id.load(tenant_id)
        return str(tenant.default)

    @strawberry.field(description="The space this block belongs to.")
    async def space(self, info: Info) -> Annotated[Space, strawberry.lazy("schema.spaces")]:
        from schema.spaces import Space

        row = await info.context.loaders.space_by_id.load(self.space_pk)
        assert row is not None  # a block's space is deleted with it, in one transaction
        return Space.from_model(row)


async def localised_blocks(
    info: Info,
    parent_pk: uuid.UUID,
    page: tuple[int | None, str | None, int | None, str | None],
    locale: str | None,
    *,
    order: Order,
    pages: Any,
    counts: Any,
) -> Connection[Block]:
    """A space's or a revision's blocks in a locale (`page`: first, after, last, before):
    the page's own errors first, then the locale's (the compiled path's order)."""
    first, after, last, before = page
    settings = info.context.settings
    page_request(
        first,
        after,
        order,
        default=settings.default_page_size,
        maximum=settings.max_page_size,
        last=last,
        before=before,
    )
    read = await locales.reading(info.context.loaders, info.context.db.tenant_id, locale)
    return await child_connection(
        info,
        parent_pk,
        first,
        after,
        last=last,
        before=before,
        order=order,
        pages=pages,
        counts=counts,
        convert=lambda row: Block.from_model(row, read),
    )


@strawberry.enum
class BlockErrorCode(enum.Enum):
    UNKNOWN_KIND = "unknown_kind"
    INVALID_BODY = "invalid_body"
    INVALID_POSITION = "invalid_position"
    CONTENT_REQUIRED = "content_required"
    CONTENT_CONFLICT = "content_conflict"
    SOURCE_MISSING = "source_missing"
    SOURCE_CONFLICT = "source_conflict"
    ASSET_NOT_FOUND = "asset_not_found"
    ASSET_KIND_MISMATCH = "asset_kind_mismatch"
    ALT_TEXT_REQUIRED = "alt_text_required"
    INVALID_MERGE_FIELD = "invalid_merge_field"
    UNKNOWN_LOCALE = "unknown_locale"
    DEFAULT_LOCALE = "default_locale"


@strawberry.type(description="Why a block mutation was refused; nothing was changed.")
class BlockUserError(UserError):
    code: BlockErrorCode
    field: list[str] | None
    message: str
    offset: int | None = strawberry.field(
        default=None,
        description="INVALID_MERGE_FIELD: where the merge field starts in the text at `field`, "
        "a zero-based character offset.",
    )


BODY_DEPRECATION = "Use `content`: typed by kind and checked by the schema."


@strawberry.input(description="Give `content`; `body` with `kind` is the older, untyped form.")
class BlockAddInput:
    space_id: strawberry.ID
    content: BlockContentInput | None = strawberry.field(
        default=None, description="The content, in the field of the block's kind."
    )
    kind: BlockKind | None = strawberry.field(
        default=None, description="Needed with `body`; `content` names the kind itself."
    )
    body: JSON | None = strawberry.field(default=None, deprecation_reason=BODY_DEPRECATION)
    position: int | None = strawberry.field(default=None, description="Defaults to the end.")


@strawberry.input(description="Give `content`; `body` is the older, untyped form.")
class BlockUpdateInput:
    id: strawberry.ID
    content: BlockContentInput | None = strawberry.field(
        default=None, description="The new content, in the field of the block's kind."
    )
    body: JSON | None = strawberry.field(default=None, deprecation_reason=BODY_DEPRECATION)


@strawberry.input(description="A block's body in one of the tenant's locales.")
class BlockLocaleBodySetInput:
    id: strawberry.ID
    locale: str = strawberry.field(
        description="One of the tenant's locales (`contentLocales`); the default locale's "
        "body is the block's own, as `blockUpdate` sets it."
    )
    content: BlockContentInput = strawberry.field(
        description="The content, in the field of the block's kind."
    )


@strawberry.input(description="Which locale's body of a block to remove.")
class BlockLocaleBodyClearInput:
    id: strawberry.ID
    locale: str = strawberry.field(description="One of the tenant's locales, not the default.")


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
