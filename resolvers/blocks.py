"""Blocks: get, add, update, move, remove. Positions stay dense: 0..n-1 per space."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import strawberry
from sqlalchemy import func, select, update
from strawberry.utils.str_converters import to_camel_case

from core.errors import NotFound
from core.ids import decode_id, encode_id
from models import Block as BlockModel
from models import Space as SpaceModel
from models.block import BlockKind
from resolvers.spaces import load_space
from schema.block_inputs import content_body
from schema.blocks import (
    LOCALE,
    Block,
    BlockAddInput,
    BlockErrorCode,
    BlockMoveInput,
    BlockPayload,
    BlockRemovePayload,
    BlockUpdateInput,
    BlockUserError,
)
from schema.context import Info
from store.block_bodies import BodyError, asset_uses, names_asset, validate_body
from store.blocks import (
    ADD_ARGUMENTS,
    ARGUMENTS,
    MOVE_ARGUMENTS,
    add_values,
    move_values,
    update_values,
)
from store.loaders import forget, load_by_global_id
from store.locales import reading
from store.spaces import forget_space


async def load_block(info: Info, global_id: str) -> BlockModel:
    """The block of the caller's tenant with this ID; NOT_FOUND otherwise."""
    return await load_by_global_id(info.context.loaders.block_by_id, global_id, "Block")


async def get_block(
    info: Info,
    id: strawberry.ID,
    locale: Annotated[str | None, strawberry.argument(description=LOCALE)] = None,
) -> Block:
    """One block of the caller's tenant, in `locale` or the nearest along its chain."""
    read = await reading(info.context.loaders, info.context.db.tenant_id, locale)
    return Block.from_model(await load_block(info, id), read)


def _error(
    code: BlockErrorCode, field: list[str], message: str, offset: int | None = None
) -> BlockPayload:
    error = BlockUserError(code=code, field=field, message=message, offset=offset)
    return BlockPayload(user_errors=[error])


@dataclass(frozen=True)
class Given:
    """What a client gave as a block's content: the typed `content` or the JSON `body`."""

    kind: str | None  # the kind `content` names; None for a `body`
    body: Any
    field: list[str]  # where in the input the body stands, for user errors


def _given(input: BlockAddInput | BlockUpdateInput) -> Given | BlockPayload:
    """The content of an add or update: exactly one of `content` and `body`."""
    if input.content is not None and input.body is not None:
        return _error(
            BlockErrorCode.CONTENT_CONFLICT,
            ["content"],
            "Give the content once: in `content`, or in the deprecated `body`, not in both.",
        )
    if input.content is not None:
        kind, body = content_body(input.content)
        return Given(kind, body, ["content", to_camel_case(kind)])
    if input.body is None:
        return _error(
            BlockErrorCode.CONTENT_REQUIRED, ["content"], "Give the block's content in `content`."
        )
    return Given(None, input.body, ["body"])


def _body_or_error(kind: str, given: Given) -> dict[str, Any] | BlockPayload:
    """The body valid for a block of `kind` (one rule for both forms: store/block_bodies.py)."""
    if given.kind is not None and given.kind != kind:
        return _error(
            BlockErrorCode.CONTENT_CONFLICT,
            given.field,
            f"The block is {_a(kind)}: give its content in `content.{to_camel_case(kind)}`.",
        )
    try:
        return validate_body(kind, given.body)
    except BodyError as exc:
        field = [*given.field, *exc.path]
        return _error(BlockErrorCode(exc.code), field, exc.message, exc.offset)


async def _assets_error(
    info: Info, kind: str, body: dict[str, Any], given: Given
) -> BlockPayload | None:
    """The refusal of a body naming an asset the tenant's library does not hold (another
    tenant's answers the same) or one of a kind the block cannot show; None when it may."""
    uses = asset_uses(kind, body)
    if not uses:
        return None
    rows = await info.context.loaders.asset_by_id.load_many([uuid.UUID(u[1]) for u in uses])
    for (path, _, allowed), row in zip(uses, rows, strict=True):
        field = [*given.field, *path]
        if row is None:
            return _error(
                BlockErrorCode.ASSET_NOT_FOUND, field, "No file of the library has this ID."
            )
        if allowed and row.kind not in allowed:
            return _error(
                BlockErrorCode.ASSET_KIND_MISMATCH,
                field,
                f"{_a(kind).capitalize()} shows {' or '.join(allowed)} files: "
                f"this one is {row.kind}.",
            )
    return None


def _a(kind: str) -> str:
    words = kind.replace("_", " ")
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words} block"


async def _count(info: Info, space_id: uuid.UUID) -> int:
    """The space's block count, under the space's row lock so reorders never interleave."""
    lock = select(SpaceModel.id).where(SpaceModel.id == space_id).with_for_update()
    if await info.context.db.scalar(lock) is None:
        raise NotFound()  # deleted by a request that committed while this one waited
    stmt = select(func.count()).select_from(BlockModel).where(BlockModel.space_id == space_id)
    return int(await info.context.db.scalar(stmt))


async def _reread(info: Info, row: BlockModel, *, lock: bool = False) -> BlockModel:
    """The block as committed now; NOT_FOUND if a concurrent request deleted it.

    Under READ COMMITTED a position read before the space lock may be stale: every reorder
    re-reads the block after taking the lock.
    """
    stmt = select(BlockModel).where(BlockModel.id == row.id)
    if lock:
        stmt = stmt.with_for_update()
    fresh = await info.context.db.scalar(stmt.execution_options(populate_existing=True))
    if fresh is None:
        forget(info.context.loaders.block_by_id, row.id)
        raise NotFound()
    return fresh  # type: ignore[no-any-return]


async def _locked_block(info: Info, global_id: str) -> tuple[BlockModel, int]:
    """The block with its space locked, and the space's block count."""
    row = await load_block(info, global_id)
    count = await _count(info, row.space_id)
    return await _reread(info, row), count


async def _shift(info: Info, space_id: uuid.UUID, lo: int, hi: int | None, delta: int) -> None:
    """Move every block with lo <= position (< hi) of a space by delta."""
    where = [BlockModel.space_id == space_id, BlockModel.position >= lo]
    if hi is not None:
        where.append(BlockModel.position < hi)
    stmt = update(BlockModel).where(*where).values(position=BlockModel.position + delta)
    await info.context.db.execute(stmt)


async def add_block(info: Info, input: BlockAddInput) -> BlockPayload:
    """Add a block to a space, at the end unless a position is given."""
    space = await load_space(info, input.space_id)
    given = _given(input)
    if isinstance(given, BlockPayload):
        return given
    named = input.kind.value if input.kind is not None else None  # GraphQL checked the enum
    if given.kind is not None and named not in (None, given.kind):
        return _error(
            BlockErrorCode.CONTENT_CONFLICT,
            ["kind"],
            f"`kind` says {_a(named)} but `content` gives {_a(given.kind)}: leave `kind` out.",
        )
    kind = given.kind or named
    if kind is None:
        return _error(
            BlockErrorCode.UNKNOWN_KIND,
            ["kind"],
            "Give the block's kind with `body`, or use `content`.",
        )
    body = _body_or_error(kind, given)
    if isinstance(body, BlockPayload):
        return body
    refused = await _assets_error(info, kind, body, given)
    if refused is not None:
        return refused
    for _ in range(2):
        # one statement: `app_block_add` (store/blocks.py), the lane's write as well
        values = add_values(space.id, kind, body, input.position, info.context.principal.kind)
        row = await info.context.db.fetch_row(ADD, [info.context.db.tenant_id, *values])
        if row is not None:
            return BlockPayload(block=_block_of(info, row))
        # nothing written: the space is gone (NOT_FOUND), or a position outside it
        count = await _count(info, space.id)
        position = count if input.position is None else input.position
        if not 0 <= position <= count:
            return _error(
                BlockErrorCode.INVALID_POSITION,
                ["position"],
                f"position must be between 0 and {count}.",
            )
        # inside after all: a block was added after the statement began; add it now
    raise NotFound()


def _written(call: str) -> str:
    """The block a write function (store/blocks.py) returns, none when it wrote nothing."""
    return (
        "SELECT b.id, b.space_id, b.kind, b.position, b.body::text, b.overridden, "
        f"b.created_at, b.updated_at FROM {call} AS r, LATERAL (SELECT (r.block).*) AS b WHERE b.id IS NOT NULL"
    )


# one round trip each: `app_block_update`, `app_block_move` (store/blocks.py), the lane's
# writes as well; no block back means nothing written, and the resolver says why
UPDATE_BODY = _written(f"app_block_update($1, {ARGUMENTS})")
MOVE = _written(f"app_block_move($1, {MOVE_ARGUMENTS})")
ADD = _written(f"app_block_add($1, {ADD_ARGUMENTS})")


def _block_of(info: Info, row: Any) -> Block:
    """The Block a write function returned (its loaders forget the old one)."""
    forget_space(info.context.loaders, row["space_id"])
    forget(info.context.loaders.block_by_id, row["id"])
    return Block(
        id=strawberry.ID(encode_id("Block", row["id"])),
        pk=row["id"],
        space_pk=row["space_id"],
        kind=BlockKind(row["kind"]),
        position=row["position"],
        overridden=row["overridden"],
        stored_body=orjson.loads(row["body"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _update_body(info: Info, block_id: uuid.UUID, given: Given) -> Block | None:
    """Update and return in one statement; None when nothing was written."""
    ctx = info.context
    values = update_values(block_id, given.body, ctx.principal.kind, kind=given.kind)
    if values is None or ctx.db.tenant_id is None:
        return None
    row = await ctx.db.fetch_row(UPDATE_BODY, [ctx.db.tenant_id, *values])
    return None if row is None else _block_of(info, row)


async def update_block(info: Info, input: BlockUpdateInput) -> BlockPayload:
    """Replace a block's content."""
    # one statement locks, writes and returns the row: no read before it
    block_id = decode_id(input.id, "Block")
    given = _given(input)
    if isinstance(given, BlockPayload):
        return given
    if names_asset(given.body):
        # the asset is checked against the block's kind: read the block first
        row = await load_block(info, input.id)
        body = _body_or_error(row.kind, given)
        if isinstance(body, BlockPayload):
            return body
        refused = await _assets_error(info, row.kind, body, given)
        if refused is not None:
            return refused
    block = await _update_body(info, block_id, given)
    if block is None:
        # nothing written: NOT_FOUND, or the error of a body invalid for the block's kind
        row = await load_block(info, input.id)
        body = _body_or_error(row.kind, given)
        if isinstance(body, BlockPayload):
            return body
        # valid after all: the block committed after the statement began; write it now
        block = await _update_body(info, block_id, given)
        if block is None:
            raise NotFound()
    return BlockPayload(block=block)


async def _move(info: Info, block_id: uuid.UUID, position: int) -> Block | None:
    ctx = info.context
    if ctx.db.tenant_id is None:
        return None
    values = move_values(block_id, position, ctx.principal.kind)
    row = await ctx.db.fetch_row(MOVE, [ctx.db.tenant_id, *values])
    return None if row is None else _block_of(info, row)


async def move_block(info: Info, input: BlockMoveInput) -> BlockPayload:
    """Move a block to another position in its space (one statement: `app_block_move`)."""
    block_id = decode_id(input.id, "Block")
    block = await _move(info, block_id, input.position)
    if block is None:
        # nothing written: NOT_FOUND, or a position outside the space
        row = await load_block(info, input.id)
        count = await _count(info, row.space_id)
        if not 0 <= input.position < count:
            return _error(
                BlockErrorCode.INVALID_POSITION,
                ["position"],
                f"position must be between 0 and {count - 1}.",
            )
        # inside after all: a block was added after the statement began; move it now
        block = await _move(info, block_id, input.position)
        if block is None:
            raise NotFound()
    return BlockPayload(block=block)


async def remove_block(info: Info, id: strawberry.ID) -> BlockRemovePayload:
    """Remove a block; later blocks move up."""
    row, _ = await _locked_block(info, id)
    await info.context.db.delete(row)
    await _shift(info, row.space_id, row.position + 1, None, -1)
    forget_space(info.context.loaders, row.space_id)
    forget(info.context.loaders.block_by_id, row.id)
    # the block is gone: its event names its space for live subscribers (microspace/live/)
    await info.context.emit("block.deleted", row.id, space=row.space_id)
    return BlockRemovePayload(deleted_block_id=strawberry.ID(encode_id("Block", row.id)))
