"""Asset rows: the by-id loader (ready assets only: a pending upload is nobody's to read)
and which assets a set of blocks uses (what a widget or visitor may read, store/audience.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.dialects.postgresql import UUID
from strawberry.dataloader import DataLoader

from core.db import Db
from models import Asset, AssetState, Block
from store.loaders import register

# every `assetId` anywhere in a block's body (a file's, an image's, each gallery item's)
ASSET_IDS_PATH = "strict $.**.assetId"


async def ready_by_id(db: Db, ids: Sequence[uuid.UUID]) -> list[Asset | None]:
    stmt = (
        select(Asset)
        .where(Asset.id.in_(ids), Asset.state == AssetState.READY.value)
        .execution_options(populate_existing=True)
    )
    found = {row.id: row for row in await db.scalars(stmt)}
    return [found.get(i) for i in ids]


register("asset_by_id")(lambda db: DataLoader(lambda ids: ready_by_id(db, ids)))


def used_by(blocks_where: Any) -> Select[Any]:
    """The ids of the assets the blocks matching `blocks_where` use."""
    found = func.jsonb_path_query(Block.body, literal_column(f"'{ASSET_IDS_PATH}'::jsonpath"))
    return select(func.cast(found.op("#>>")(literal_column("'{}'")), UUID)).where(blocks_where)
