"""The outbox: e-mail queued in the transaction of the change that causes it.

The worker (microspace/jobs/worker.py) sends it later; consent is checked again at send time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import func, insert, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import CursorResult

from core.db import Db
from models import OutboxMessage, SpaceAccess
from models.outbox import EmailKind
from models.space_access import ACTIVE_STATES


async def enqueue(
    db: Db,
    kind: EmailKind,
    contact_ids: Sequence[uuid.UUID],
    *,
    space_id: uuid.UUID | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Queue one e-mail per contact in the current transaction (one statement)."""
    if not contact_ids:
        return 0
    rows = [
        {
            "tenant_id": db.tenant_id,
            "id": uuid.uuid4(),
            "kind": kind.value,
            "contact_id": cid,
            "space_id": space_id,
            "payload": payload or {},
        }
        for cid in contact_ids
    ]
    await db.execute(insert(OutboxMessage), rows)
    return len(rows)


async def queue_space_updated(db: Db, space_id: uuid.UUID, message: str) -> int:
    """A "space updated" e-mail to every contact with active access, in this transaction."""
    # INSERT ... SELECT: one statement however many contacts; the tenant criterion is
    # explicit because the ORM's tenant listener does not rewrite an INSERT's SELECT
    source = select(
        SpaceAccess.tenant_id,
        func.gen_random_uuid(),
        literal(EmailKind.SPACE_UPDATED.value),
        SpaceAccess.contact_id,
        SpaceAccess.space_id,
        literal({"message": message} if message else {}, JSONB),
    ).where(
        SpaceAccess.tenant_id == db.tenant_id,
        SpaceAccess.space_id == space_id,
        SpaceAccess.state.in_(ACTIVE_STATES),
    )
    stmt = insert(OutboxMessage).from_select(
        ["tenant_id", "id", "kind", "contact_id", "space_id", "payload"], source
    )
    result = await db.execute(stmt)
    return cast("CursorResult[Any]", result).rowcount or 0


async def enqueue_to_members(
    db: Db, kind: EmailKind, member_ids: Sequence[uuid.UUID], *, payload: dict[str, Any]
) -> int:
    """Queue one e-mail per member (not a contact) in the current transaction."""
    if not member_ids:
        return 0
    rows = [
        {
            "tenant_id": db.tenant_id,
            "id": uuid.uuid4(),
            "kind": kind.value,
            "contact_id": None,
            "member_id": mid,
            "payload": payload,
        }
        for mid in member_ids
    ]
    await db.execute(insert(OutboxMessage), rows)
    return len(rows)


async def active_recipients(db: Db, space_id: uuid.UUID) -> int:
    """How many contacts a "space updated" e-mail would go to now (for plan limits)."""
    stmt = (
        select(func.count())
        .select_from(SpaceAccess)
        .where(SpaceAccess.space_id == space_id, SpaceAccess.state.in_(ACTIVE_STATES))
    )
    return int(await db.scalar(stmt) or 0)
