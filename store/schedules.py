"""Scheduled publishing: set, clear and list a space's pending publish and unpublish, and
carry one out (the worker, microspace/jobs/schedules.py).

Exactly once: `carry_out` claims the schedule with `FOR UPDATE SKIP LOCKED` and marks it
done in the caller's transaction, the one that publishes. Another worker skips the row
while it is held and finds it done once committed; a worker that dies before its commit
leaves it pending (its transaction is rolled back, its lock released).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, text

from core.db import Db
from models import Space, SpaceSchedule
from models.schedule import ScheduleAction
from store.pagination import Order, parse_datetime
from store.revisions import Author, Refused, publish, unpublish

SCHEDULE_ORDER = Order(
    columns=(SpaceSchedule.run_at, SpaceSchedule.id), parsers=(parse_datetime, uuid.UUID)
)
PENDING = SpaceSchedule.done_at.is_(None)
VOUCH = text("SELECT app_schedule_vouch(:id)")
NOTE = "scheduled"


def pending(space_id: uuid.UUID | None = None) -> Sequence[ColumnElement[bool]]:
    """The criteria of pending schedules (of one space if given)."""
    where: list[ColumnElement[bool]] = [PENDING]
    if space_id is not None:
        where.append(SpaceSchedule.space_id == space_id)
    return where


async def pending_of(db: Db, space_id: uuid.UUID) -> dict[str, SpaceSchedule]:
    """A space's pending schedules by action."""
    rows = await db.scalars(select(SpaceSchedule).where(*pending(space_id)))
    return {row.action: row for row in rows}


async def set_schedule(
    db: Db, space_id: uuid.UUID, action: ScheduleAction, run_at: datetime | None, who: Author
) -> None:
    """Replace the space's pending `action` by one at `run_at` (None: clear it)."""
    await db.execute(
        delete(SpaceSchedule).where(*pending(space_id), SpaceSchedule.action == action.value)
    )
    if run_at is not None:
        assert who.id is not None  # members and keys have an id; the audit names it
        db.add(
            SpaceSchedule(
                id=uuid.uuid4(),
                space_id=space_id,
                action=action.value,
                run_at=run_at,
                created_by_kind=who.kind,
                created_by=who.id,
            )
        )
    await db.flush()


async def carry_out(db: Db, schedule_id: uuid.UUID) -> str | None:
    """Claim a due schedule and carry it out in this transaction; its outcome, or None
    when another worker holds it or it is no longer due (done, cleared, moved)."""
    claim = (
        select(SpaceSchedule)
        .where(SpaceSchedule.id == schedule_id, PENDING, SpaceSchedule.run_at <= func.now())
        .with_for_update(skip_locked=True)
    )
    row: SpaceSchedule | None = await db.scalar(claim)
    if row is None:
        return None
    row.done_at = datetime.now(row.run_at.tzinfo)
    await db.flush()
    # the audit entry of the publish names who set the schedule (migration 0038)
    await db.execute(VOUCH, {"id": row.id})
    author = Author(row.created_by_kind, row.created_by)
    space = await db.scalar(select(Space).where(Space.id == row.space_id).with_for_update())
    try:
        if space is None:
            row.outcome = "not_found"
        elif row.action == ScheduleAction.PUBLISH.value:
            await publish(db, space.id, author=author, note=NOTE)
            row.outcome = "published"
        else:
            await unpublish(db, space, author=author)
            row.outcome = "unpublished"
    except Refused as refused:
        # archived, or not published, since it was set: done, with the reason
        row.outcome = refused.code.lower()
    await db.flush()
    return row.outcome
