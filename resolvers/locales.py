"""Content locales: the tenant's list and default, and block bodies per locale."""

from __future__ import annotations

from typing import Any

import orjson
import strawberry

from core.errors import NotFound
from core.ids import encode_id
from models.block import BlockKind
from resolvers.blocks import (
    Given,
    _assets_error,
    _body_or_error,
    _error,
    load_block,
    update_block,
)
from schema.block_inputs import content_body
from schema.blocks import (
    Block,
    BlockErrorCode,
    BlockLocaleBodyClearInput,
    BlockLocaleBodySetInput,
    BlockPayload,
    BlockUpdateInput,
)
from schema.context import Info
from schema.locales import (
    ContentLocales,
    ContentLocalesPayload,
    ContentLocalesUpdateInput,
    LocaleErrorCode,
    LocaleUserError,
)
from store.loaders import forget
from store.locales import MAX_LOCALES, Locales, Reading, canonical, served
from store.spaces import forget_space


async def _current(info: Info) -> Locales:
    tenant_id = info.context.db.tenant_id
    assert tenant_id is not None  # a member's request is in its tenant
    found: Locales = await info.context.loaders.locales_by_tenant_id.load(tenant_id)
    return found


async def get_content_locales(info: Info) -> ContentLocales:
    """The tenant's content locales and its default."""
    return ContentLocales.of(await _current(info))


def _problems(input: ContentLocalesUpdateInput) -> tuple[list[LocaleUserError], Locales | None]:
    errors: list[LocaleUserError] = []
    tags: list[str] = []

    def refuse(code: LocaleErrorCode, field: list[Any], message: str) -> None:
        errors.append(LocaleUserError(code=code, field=["input", *field], message=message))

    if len(input.locales) > MAX_LOCALES:
        refuse(LocaleErrorCode.TOO_MANY, ["locales"], f"At most {MAX_LOCALES} locales.")
    for index, given in enumerate(input.locales):
        tag = canonical(given)
        if tag is None:
            refuse(
                LocaleErrorCode.INVALID_LOCALE,
                ["locales", str(index)],
                f"{given!r} is not a BCP 47 language tag (e.g. `de` or `de-AT`).",
            )
        elif tag in tags:
            refuse(
                LocaleErrorCode.DUPLICATE_LOCALE, ["locales", str(index)], f"{tag} is listed twice."
            )
        else:
            tags.append(tag)
    default = canonical(input.default_locale)
    if default is None:
        refuse(
            LocaleErrorCode.INVALID_LOCALE,
            ["defaultLocale"],
            f"{input.default_locale!r} is not a BCP 47 language tag (e.g. `de` or `de-AT`).",
        )
    elif default not in tags and not errors:
        refuse(
            LocaleErrorCode.DEFAULT_NOT_LISTED,
            ["defaultLocale"],
            f"The default locale {default} must be one of `locales`.",
        )
    if errors or default is None:
        return errors, None
    return [], Locales(tuple(tags), default)


# a new default takes `body`: a block's body in the new default becomes its body, and its
# body is kept under the old default when that stays listed (else it now serves the new
# one); the bodies of locales no longer listed go (blocks hold only the tenant's locales)
CHANGE_DRAFTS = """
UPDATE blocks SET
    body = CASE WHEN $2::boolean THEN coalesce(bodies -> $4::text, body) ELSE body END,
    bodies = CASE WHEN $2::boolean THEN (bodies - $4::text) || CASE WHEN $5::boolean
        THEN jsonb_build_object($3::text, body) ELSE '{}'::jsonb END ELSE bodies END
        - $6::text[]
WHERE tenant_id = $1 AND ($2::boolean OR bodies ?| $6::text[])
"""
SET_LOCALES = "UPDATE tenants SET locales = $2::text[], default_locale = $3 WHERE id = $1"


async def update_content_locales(
    info: Info, input: ContentLocalesUpdateInput
) -> ContentLocalesPayload:
    """Set the tenant's locales and default (owners and admins)."""
    errors, wanted = _problems(input)
    if wanted is None:
        return ContentLocalesPayload(user_errors=errors)
    db = info.context.db
    assert db.tenant_id is not None
    current = await _current(info)
    swap = wanted.default != current.default
    removed = [t for t in current.available if t not in wanted.available]
    if swap or removed:
        kept = current.default in wanted.available
        values = [db.tenant_id, swap, current.default, wanted.default, kept, removed]
        await db.fetch_row(CHANGE_DRAFTS, values)
        info.context.loaders.reset("block_by_id")
        info.context.loaders.reset("blocks_by_space_id")
    await db.fetch_row(SET_LOCALES, [db.tenant_id, list(wanted.available), wanted.default])
    info.context.loaders.forget(db.tenant_id, "locales_by_tenant_id")
    info.context.audit.record("content_locales_update", None, ["locales", "defaultLocale"])
    await info.context.emit("content_locales.updated", db.tenant_id, ["locales", "defaultLocale"])
    return ContentLocalesPayload(content_locales=ContentLocales.of(wanted))


async def _tenant_locale(info: Info, given: str) -> tuple[str, Locales] | BlockPayload:
    """The tag among the tenant's locales, or UNKNOWN_LOCALE."""
    tenant = await _current(info)
    tag = canonical(given)
    if tag is None or tag not in tenant.available:
        listed = ", ".join(tenant.available)
        return _error(
            BlockErrorCode.UNKNOWN_LOCALE,
            ["locale"],
            f"{given!r} is not one of the tenant's locales ({listed}): add it with "
            "`contentLocalesUpdate` first.",
        )
    return tag, tenant


SET_BODY = """
UPDATE blocks SET bodies = bodies || jsonb_build_object($3::text, $4::jsonb), updated_at = now(),
    overridden = overridden OR template_block_id IS NOT NULL
WHERE tenant_id = $1 AND id = $2 AND kind = $5
RETURNING id, space_id, kind, position, body::text, bodies::text, overridden, created_at, updated_at
"""
CLEAR_BODY = """
UPDATE blocks SET bodies = bodies - $3::text, updated_at = now(),
    overridden = overridden OR template_block_id IS NOT NULL
WHERE tenant_id = $1 AND id = $2
RETURNING id, space_id, kind, position, body::text, bodies::text, overridden, created_at, updated_at
"""


def _served_block(info: Info, row: Any, read: Reading) -> Block:
    """The written block, served as `read` asks (its loaders forget the old one)."""
    forget_space(info.context.loaders, row["space_id"])
    forget(info.context.loaders.block_by_id, row["id"])
    bodies = orjson.loads(row["bodies"])
    tag, body = served(read, orjson.loads(row["body"]), bodies)
    return Block(
        id=strawberry.ID(encode_id("Block", row["id"])),
        pk=row["id"],
        space_pk=row["space_id"],
        kind=BlockKind(row["kind"]),
        position=row["position"],
        overridden=row["overridden"],
        stored_body=body,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        served=tag,
    )


async def set_block_locale_body(info: Info, input: BlockLocaleBodySetInput) -> BlockPayload:
    """Set a block's body in one of the tenant's locales."""
    row = await load_block(info, input.id)  # NOT_FOUND before any other error
    found = await _tenant_locale(info, input.locale)
    if isinstance(found, BlockPayload):
        return found
    tag, tenant = found
    if tag == tenant.default:
        return await update_block(info, BlockUpdateInput(id=input.id, content=input.content))
    kind, body = content_body(input.content)
    given = Given(kind, body, ["content", _camel(kind)])
    valid = _body_or_error(row.kind, given)
    if isinstance(valid, BlockPayload):
        return valid
    # the library's files it names: the tenant's, of a kind the block shows (as blockUpdate)
    refused = await _assets_error(info, row.kind, valid, given)
    if refused is not None:
        return refused
    db = info.context.db
    values = [db.tenant_id, row.id, tag, orjson.dumps(valid).decode(), row.kind]
    written = await db.fetch_row(SET_BODY, values)
    if written is None:
        raise NotFound()  # deleted since it was read (a block's kind never changes)
    await info.context.emit("block.updated", row.id, ["bodies"])
    return BlockPayload(block=_served_block(info, written, Reading((tag,), tenant.default)))


async def clear_block_locale_body(info: Info, input: BlockLocaleBodyClearInput) -> BlockPayload:
    """Remove a block's body in a locale: reads of it fall back along the chain."""
    block_id = (await load_block(info, input.id)).id  # NOT_FOUND before any other error
    found = await _tenant_locale(info, input.locale)
    if isinstance(found, BlockPayload):
        return found
    tag, tenant = found
    if tag == tenant.default:
        return _error(
            BlockErrorCode.DEFAULT_LOCALE,
            ["locale"],
            f"{tag} is the default locale: its body is the block's own; change it with "
            "`blockUpdate`.",
        )
    db = info.context.db
    written = await db.fetch_row(CLEAR_BODY, [db.tenant_id, block_id, tag])
    if written is None:
        raise NotFound()
    await info.context.emit("block.updated", block_id, ["bodies"])
    return BlockPayload(block=_served_block(info, written, Reading((tag,), tenant.default)))


def _camel(kind: str) -> str:
    head, *rest = kind.split("_")
    return head + "".join(p.title() for p in rest)
