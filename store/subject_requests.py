"""Subject requests and their trail: loaders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from core.db import Db
from models import SubjectRequest, SubjectRequestEvent
from store.loaders import register, register_by_id

register_by_id("subject_request_by_id", SubjectRequest)


async def _events_by_request(db: Db, ids: Sequence[uuid.UUID]) -> list[list[SubjectRequestEvent]]:
    stmt = (
        select(SubjectRequestEvent)
        .where(SubjectRequestEvent.request_id.in_(ids))
        .order_by(SubjectRequestEvent.occurred_at, SubjectRequestEvent.id)
        .execution_options(populate_existing=True)
    )
    grouped: dict[uuid.UUID, list[SubjectRequestEvent]] = {i: [] for i in ids}
    for row in await db.scalars(stmt):
        grouped[row.request_id].append(row)
    return [grouped[i] for i in ids]


@register("subject_request_events_by_request_id")
def _events(db: Db) -> DataLoader[uuid.UUID, list[SubjectRequestEvent]]:
    return DataLoader(lambda ids: _events_by_request(db, ids))
