"""Spaces and their blocks: orders and loaders."""

from __future__ import annotations

import uuid

from strawberry.dataloader import DataLoader

from core.db import Db
from models import Block, Space
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
