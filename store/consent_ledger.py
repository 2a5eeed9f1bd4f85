"""The current consent state, derived from the append-only ledger (never stored twice).

Free of schema imports so that loaders, resolvers and the outbox worker share it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select

from core.db import Db
from models import ConsentEvent, Contact
from models.consent import ConsentAction


def _distinct_on(stmt: Select[Any], *columns: Any) -> Select[Any]:
    try:  # SQLAlchemy 2.1 spells DISTINCT ON as an extension; 2.0 only as distinct(*cols)
        from sqlalchemy.dialects.postgresql import distinct_on
    except ImportError:
        return stmt.distinct(*columns)
    return stmt.ext(distinct_on(*columns))


async def current_consents(
    db: Db, contact_ids: Sequence[uuid.UUID]
) -> list[dict[str, ConsentEvent]]:
    """The latest event per purpose for each contact, aligned with `contact_ids`; one statement."""
    stmt = _distinct_on(
        select(ConsentEvent).where(ConsentEvent.contact_id.in_(contact_ids)),
        ConsentEvent.contact_id,
        ConsentEvent.purpose,
    ).order_by(
        ConsentEvent.contact_id,
        ConsentEvent.purpose,
        ConsentEvent.occurred_at.desc(),
        ConsentEvent.id.desc(),
    )
    latest: dict[uuid.UUID, dict[str, ConsentEvent]] = {cid: {} for cid in contact_ids}
    for event in await db.scalars(stmt):
        latest[event.contact_id][event.purpose] = event
    return [latest[cid] for cid in contact_ids]


def is_granted(events: dict[str, ConsentEvent], purpose: str) -> bool:
    event = events.get(purpose)
    return event is not None and event.action == ConsentAction.GRANTED.value


async def lock_contact(db: Db, contact_id: uuid.UUID, *, exclusive: bool) -> bool:
    """Lock a contact row so consent changes and the actions that depend on them serialise.

    Consent mutations take it exclusively; recording usage and sending e-mail share it, so a
    withdrawal either happens before them (they see it) or waits until they have committed
    (and then removes or cancels what they wrote). False if the contact does not exist.
    """
    stmt = select(Contact.id).where(Contact.id == contact_id)
    stmt = stmt.with_for_update() if exclusive else stmt.with_for_update(read=True)
    return await db.scalar(stmt) is not None


async def has_consent(db: Db, contact_id: uuid.UUID, purpose: str) -> bool:
    """Whether the contact's consent for `purpose` is granted right now."""
    return is_granted((await current_consents(db, [contact_id]))[0], purpose)
