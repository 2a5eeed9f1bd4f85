"""The values a reader sees in a space's merge fields, for the resolver path: the same SQL
function the compiled path calls (`app_merge_values`, migration 0035), batched per request.

A key is (space, the visitor's contact or None for the space's own, the reader's decision
on Contact.fullName, on Contact.company): policies/merge.py `merge_reader` makes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from strawberry.dataloader import DataLoader

from core.db import Db
from store.loaders import register

MergeKey = tuple[uuid.UUID, uuid.UUID | None, str, str]

VALUES = (
    "SELECT array_agg(app_merge_values($1::uuid, k.s, k.c, k.n, k.co)::text ORDER BY k.i) "
    "FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[]) "
    "WITH ORDINALITY AS k(s, c, n, co, i)"
)


async def merge_values(db: Db, keys: Sequence[MergeKey]) -> list[dict[str, Any]]:
    columns = list(zip(*keys, strict=True))
    row = await db.fetch_row(VALUES, [db.tenant_id, *(list(c) for c in columns)])
    return [orjson.loads(text) for text in row[0]]


@register("merge_values")
def _merge_values(db: Db) -> DataLoader[MergeKey, dict[str, Any]]:
    return DataLoader(lambda keys: merge_values(db, keys))
