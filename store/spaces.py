"""Spaces and their blocks: orders and loaders; a space's text rules and its text update
(`app_space_update`, migration 0024), for the resolver and the fast lane alike."""

from __future__ import annotations

import re
import uuid
from typing import Any

from strawberry.dataloader import DataLoader

from core.db import Db
from models import Block, Space
from store.events import event_payload
from store.loaders import Loaders, register, register_by_id
from store.pagination import (
    ChildPageKey,
    Order,
    Page,
    child_pages,
    count_by_parent,
    parse_datetime,
    parse_int,
)

SPACE_ORDER = Order(
    columns=(Space.created_at, Space.id), parsers=(parse_datetime, uuid.UUID), descending=True
)
BLOCK_ORDER = Order(columns=(Block.position, Block.id), parsers=(parse_int, uuid.UUID))

register_by_id("space_by_id", Space)

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LIMITS = {"title": 200, "slug": 100, "description": 5000}

# `app_space_update`'s arguments after the tenant ($1), as `text_update_values` orders them
TEXT_ARGUMENTS = "$2::uuid, $3::text, $4::text, $5::jsonb"


def text_problem(field: str, value: str | None, *, required: bool) -> str | None:
    """The error code (SpaceErrorCode's name) of a space's text field, None when it is good."""
    if value is None:
        return None
    if required and not value.strip():
        return "REQUIRED"
    if len(value) > LIMITS[field]:
        return "TOO_LONG"
    if field == "slug" and not SLUG_RE.match(value):
        return "INVALID_SLUG"
    return None


def text_update_values(
    space_id: uuid.UUID, title: str | None, description: str | None, actor: str
) -> list[Any] | None:
    """The arguments after the tenant of a change of title or description (no slug: it can
    collide, so it takes the full path), with the event; None when there is nothing to
    change or a value is refused (the full path answers with the user error)."""
    if title is None and description is None:
        return None
    if text_problem("title", title, required=True) or text_problem(
        "description", description, required=False
    ):
        return None
    title = title.strip() if title is not None else None
    changed = [f for f, v in (("title", title), ("description", description)) if v is not None]
    event = event_payload("space.updated", space_id, changed, actor)
    return [space_id, title, description, event]


register_by_id("block_by_id", Block)


@register("blocks_by_space_id")
def _blocks_by_space_id(db: Db) -> DataLoader[ChildPageKey, Page[Block]]:
    return DataLoader(lambda keys: child_pages(db, Block, Block.space_id, BLOCK_ORDER, keys))


@register("block_count_by_space_id")
def _block_count_by_space_id(db: Db) -> DataLoader[uuid.UUID, int]:
    return DataLoader(lambda ids: count_by_parent(db, Block.space_id, ids))


def forget_space(loaders: Loaders, space_id: uuid.UUID) -> None:
    """Drop cached reads of a space after a mutation changed it or its blocks."""
    loaders.forget(space_id, "space_by_id", "block_count_by_space_id")
    loaders.reset("blocks_by_space_id")
