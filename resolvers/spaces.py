"""Spaces: get, list, create, update, publish, unpublish, restore, archive, unarchive,
delete; the diff between two revisions."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.exc import IntegrityError
from strawberry.utils.str_converters import to_camel_case

from core.ids import decode_id, encode_id
from models import Space as SpaceModel
from models import SpaceStatus
from resolvers.plans import limit_message
from schema.connection import Connection, OrderDirection, list_connection
from schema.context import Info
from schema.revisions import BlockChange, BlockChangeKind, SpaceRevisionDiff
from schema.spaces import (
    Space,
    SpaceCreateInput,
    SpaceDeletePayload,
    SpaceErrorCode,
    SpaceOrder,
    SpaceOrderField,
    SpacePayload,
    SpaceUpdateInput,
    SpaceUserError,
)
from store import plans, revisions
from store.loaders import load_by_global_id
from store.outbox import queue_space_updated
from store.pagination import Order, parse_datetime, parse_str
from store.spaces import (
    LIMITS,
    SPACE_ORDER,
    TEXT_ARGUMENTS,
    forget_space,
    text_problem,
    text_update_values,
)
from store.templates import republish_followers

MESSAGES = {
    "REQUIRED": "{field} must not be empty.",
    "TOO_LONG": "{field} may be at most {limit} characters.",
    "INVALID_SLUG": "slug must be lower-case letters and digits joined by single hyphens.",
}


async def load_space(info: Info, global_id: str) -> SpaceModel:
    """The space of the caller's tenant with this ID; NOT_FOUND otherwise, whatever the reason."""
    return await load_by_global_id(info.context.loaders.space_by_id, global_id, "Space")


async def get_space(info: Info, id: strawberry.ID) -> Space:
    """One space of the caller's tenant."""
    return Space.from_model(await load_space(info, id))


ORDER_COLUMNS = {
    SpaceOrderField.CREATED_AT: (SpaceModel.created_at, parse_datetime),
    SpaceOrderField.UPDATED_AT: (SpaceModel.updated_at, parse_datetime),
    SpaceOrderField.TITLE: (SpaceModel.title, parse_str),
}


def space_order(order_by: SpaceOrder | None) -> Order:
    """The keyset order for `orderBy`; newest first when none is given."""
    if order_by is None:
        return SPACE_ORDER
    column, parser = ORDER_COLUMNS[order_by.field]
    return Order(
        columns=(column, SpaceModel.id),
        parsers=(parser, uuid.UUID),
        descending=order_by.direction is OrderDirection.DESC,
        tag=f"{order_by.field.value}.{order_by.direction.value}",
    )


async def list_spaces(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    status: SpaceStatus | None = None,
    last: int | None = None,
    before: str | None = None,
    order_by: SpaceOrder | None = None,
    updated_since: Annotated[
        datetime | None,
        strawberry.argument(description="Only spaces changed at or after this instant."),
    ] = None,
) -> Connection[Space]:
    """The tenant's spaces, newest first unless `orderBy` says otherwise."""
    where = [SpaceModel.status == status.value] if status else []
    if updated_since is not None:
        where.append(SpaceModel.updated_at >= updated_since)
    return await list_connection(
        info,
        SpaceModel,
        where,
        first,
        after,
        last=last,
        before=before,
        order=space_order(order_by),
        convert=Space.from_model,
    )


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[: LIMITS["slug"]].strip("-")


def _check(field: str, value: str | None, *, required: bool) -> list[SpaceUserError]:
    code = text_problem(field, value, required=required)
    if code is None:
        return []
    message = MESSAGES[code].format(field=field, limit=LIMITS[field])
    return [SpaceUserError(code=SpaceErrorCode[code], field=[field], message=message)]


def _validate(title: str | None, slug: str | None, description: str | None) -> list[SpaceUserError]:
    return (
        _check("title", title, required=True)
        + _check("slug", slug, required=True)
        + _check("description", description, required=False)
    )


def _duplicate_slug() -> SpacePayload:
    return SpacePayload(
        user_errors=[
            SpaceUserError(
                code=SpaceErrorCode.DUPLICATE_SLUG,
                field=["slug"],
                message="Another space of this tenant already uses this slug.",
            )
        ]
    )


async def _save(
    info: Info,
    row: SpaceModel,
    topic: str,
    marks: dict[str, bool] | None = None,
    **changes: object,
) -> SpacePayload:
    """Apply and flush in a savepoint so a duplicate slug is a user error, not a failed request.
    `marks` are written with the changes but are not among the event's fields."""
    try:
        # changes are applied inside: beginning a savepoint flushes what is already dirty
        async with info.context.db.savepoint():
            for name, value in {**changes, **(marks or {})}.items():
                setattr(row, name, value)
            info.context.db.add(row)
    except IntegrityError as exc:
        if "slug" not in str(exc.orig):
            raise
        return _duplicate_slug()
    await info.context.db.refresh(row)
    forget_space(info.context.loaders, row.id)
    await info.context.emit(topic, row.id, [to_camel_case(f) for f in changes])
    return SpacePayload(space=Space.from_model(row))


async def create_space(info: Info, input: SpaceCreateInput) -> SpacePayload:
    """Create a draft space."""
    slug = input.slug if input.slug is not None else slugify(input.title) or None
    errors = _validate(input.title, slug, input.description)
    if slug is None and not errors:
        errors = _check("slug", "", required=True)
    if errors:
        return SpacePayload(user_errors=errors)
    row = SpaceModel(
        id=uuid.uuid4(),
        title=input.title.strip(),
        slug=slug,
        description=input.description or "",
        status="draft",
        is_template=bool(input.is_template),
        # named by {{member.fullName}} in its blocks
        member_id=info.context.principal.member_id,
    )
    over = await plans.check(info.context.db, "spaces", 1)
    if over is not None:
        return SpacePayload(
            user_errors=[
                SpaceUserError(
                    code=SpaceErrorCode.PLAN_LIMIT, field=None, message=limit_message(info, over)
                )
            ]
        )
    return await _save(info, row, "space.created")


# title and description cannot collide with anything: one round trip, `app_space_update`
# (store/spaces.py), the fast lane's write as well, with the domain event
UPDATE_TEXT = (
    "SELECT s.id, s.title, s.slug, s.description, s.status, s.created_at, s.updated_at, "
    "s.published_at, s.is_template, s.follows_template, s.template_id, s.contact_id, "
    "s.published_revision_id, s.title_overridden, s.description_overridden "
    f"FROM app_space_update($1, {TEXT_ARGUMENTS}) AS r, "
    "LATERAL (SELECT (r.space).*) AS s WHERE s.id IS NOT NULL"
)


async def _update_text(info: Info, input: SpaceUpdateInput) -> SpacePayload | None:
    """The lean path (no slug change); None leaves the answer to the full path."""
    ctx = info.context
    if input.slug is not None or input.is_template is not None or ctx.db.tenant_id is None:
        return None
    space_id = decode_id(input.id, "Space")
    values = text_update_values(space_id, input.title, input.description, ctx.principal.kind)
    if values is None:
        return None  # nothing to change: the full path answers without a write
    row = await ctx.db.fetch_row(UPDATE_TEXT, [ctx.db.tenant_id, *values])
    if row is None:
        return None  # not found: the full path answers NOT_FOUND
    forget_space(ctx.loaders, row["id"])
    return SpacePayload(
        space=Space(
            id=strawberry.ID(encode_id("Space", row["id"])),
            pk=row["id"],
            title=row["title"],
            slug=row["slug"],
            description=row["description"],
            status=SpaceStatus(row["status"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            published_at=row["published_at"],
            is_template=row["is_template"],
            follows_template=row["follows_template"],
            title_overridden=row["title_overridden"],
            description_overridden=row["description_overridden"],
            template_pk=row["template_id"],
            contact_pk=row["contact_id"],
            published_revision_pk=row["published_revision_id"],
        )
    )


async def update_space(info: Info, input: SpaceUpdateInput) -> SpacePayload:
    """Change a space's title, slug or description."""
    errors = _validate(input.title, input.slug, input.description)
    if errors:
        await load_space(info, input.id)  # an unknown space is NOT_FOUND before bad input
        return SpacePayload(user_errors=errors)
    lean = await _update_text(info, input)
    if lean is not None:
        return lean
    row = await load_space(info, input.id)
    if input.is_template and row.template_id is not None:
        return SpacePayload(
            user_errors=[
                SpaceUserError(
                    code=SpaceErrorCode.INVALID_STATE,
                    field=["isTemplate"],
                    message="A personalised space cannot be a template: personalise the "
                    "template itself, or make a new space.",
                )
            ]
        )
    changes = {
        "title": input.title.strip() if input.title is not None else None,
        "slug": input.slug,
        "description": input.description,
        "is_template": input.is_template,
    }
    given: dict[str, object] = {k: v for k, v in changes.items() if v is not None}
    marks = _override_marks(row, given)
    return await _save(info, row, "space.updated", marks, **given)


def _override_marks(row: SpaceModel, given: dict[str, object]) -> dict[str, bool]:
    """A member's change of a personalised space's title or description is theirs: the
    template's republish leaves it alone (as `app_space_update` marks it, migration 0041)."""
    if row.template_id is None:
        return {}
    return {
        f"{name}_overridden": True
        for name in ("title", "description")
        if name in given and given[name] != getattr(row, name)
    }


def _refused(exc: revisions.Refused) -> SpacePayload:
    return SpacePayload(
        user_errors=[
            SpaceUserError(code=SpaceErrorCode[exc.code], field=[exc.field], message=exc.message)
        ]
    )


def author_of(info: Info) -> revisions.Author:
    p = info.context.principal
    return revisions.Author(p.kind, p.member_id or p.token_id, info.context.request_id)


async def _reloaded(info: Info, row: SpaceModel) -> SpacePayload:
    await info.context.db.refresh(row)
    forget_space(info.context.loaders, row.id)
    return SpacePayload(space=Space.from_model(row))


async def publish_space(
    info: Info,
    id: strawberry.ID,
    note: Annotated[
        str | None, strawberry.argument(description="Why: kept with the revision (500 characters).")
    ] = None,
) -> SpacePayload:
    """Publish the draft as a new revision; the first time, tell the space's contacts (outbox)."""
    row = await load_space(info, id)
    was = row.status
    try:
        await revisions.publish(info.context.db, row.id, author=author_of(info), note=note or "")
    except revisions.Refused as exc:
        return _refused(exc)
    if row.is_template:
        # the spaces that follow it take its blocks and are published again (docs/content.md)
        await republish_followers(info.context.db, row.id, author_of(info))
    if was != "published":
        await queue_space_updated(info.context.db, row.id, "")
    return await _reloaded(info, row)


async def unpublish_space(info: Info, id: strawberry.ID) -> SpacePayload:
    """Withdraw the published revision; widgets and visitors no longer see the space."""
    row = await load_space(info, id)
    try:
        await revisions.unpublish(info.context.db, row, author=author_of(info))
    except revisions.Refused as exc:
        return _refused(exc)
    return await _reloaded(info, row)


async def restore_space(
    info: Info,
    id: strawberry.ID,
    revision_id: Annotated[
        strawberry.ID, strawberry.argument(description="A revision of this space.")
    ],
) -> SpacePayload:
    """Copy a revision into the draft (publish to show it)."""
    row = await load_space(info, id)
    revision = await load_by_global_id(
        info.context.loaders.space_revision_by_id, revision_id, "SpaceRevision"
    )
    try:
        await revisions.restore(info.context.db, row, revision, author=author_of(info))
    except revisions.Refused as exc:
        return _refused(exc)
    info.context.loaders.reset("blocks_by_space_id")
    return await _reloaded(info, row)


async def archive_space(info: Info, id: strawberry.ID) -> SpacePayload:
    """Take a space out of circulation, keeping its content and its history."""
    row = await load_space(info, id)
    await revisions.archive(info.context.db, row, author=author_of(info))
    return await _reloaded(info, row)


async def unarchive_space(info: Info, id: strawberry.ID) -> SpacePayload:
    """Bring an archived space back as a draft (publish to show it again)."""
    row = await load_space(info, id)
    try:
        await revisions.unarchive(info.context.db, row, author=author_of(info))
    except revisions.Refused as exc:
        return _refused(exc)
    return await _reloaded(info, row)


async def diff_revisions(
    info: Info,
    space_id: strawberry.ID,
    from_: Annotated[int, strawberry.argument(name="from", description="A revision number.")],
    to: Annotated[
        int | None, strawberry.argument(description="A revision number; null: the draft.")
    ] = None,
) -> SpaceRevisionDiff | None:
    """Block by block, what changed from one revision to another (or to the draft)."""
    db = info.context.db
    space = await load_space(info, space_id)
    old = await revisions.revision_by_number(db, space.id, from_)
    new = await revisions.revision_by_number(db, space.id, to) if to is not None else None
    if old is None or (to is not None and new is None):
        return None
    fields, changes = revisions.diff(
        await revisions.revision_content(db, old),
        await revisions.revision_content(db, new)
        if new is not None
        else await revisions.draft_content(db, space),
    )
    return SpaceRevisionDiff(
        from_number=from_,
        to_number=to,
        fields=[to_camel_case(f) for f in fields],
        blocks=[
            BlockChange(
                block_id=strawberry.ID(encode_id("Block", c.block_id)),
                change=BlockChangeKind(c.change),
                fields=c.fields,
                from_position=c.from_position,
                to_position=c.to_position,
            )
            for c in changes
        ],
    )


async def delete_space(info: Info, id: strawberry.ID) -> SpaceDeletePayload:
    """Delete a space and its blocks."""
    row = await load_space(info, id)
    await info.context.db.delete(row)
    forget_space(info.context.loaders, row.id)
    await info.context.emit("space.deleted", row.id)
    return SpaceDeletePayload(deleted_space_id=strawberry.ID(encode_id("Space", row.id)))
