"""E-mail: queue automated e-mail in the outbox, in the transaction of the change.

The worker (microspace/worker.py) sends it later. Marketing e-mail is queued only while the
contact's marketing consent is granted, and the worker checks again at send time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, literal, select
from sqlalchemy.dialects.postgresql import JSONB

from microspace.context import Info
from microspace.db import Db
from microspace.errors import NotFound
from microspace.ids import decode_id
from models import OutboxMessage, SpaceAccess
from models.outbox import CONSENT_FOR_KIND, EmailKind
from models.space_access import ACTIVE_STATES
from resolvers.consent_ledger import current_consents, is_granted
from resolvers.spaces import load_space
from schema.emails import (
    EmailErrorCode,
    EmailQueuePayload,
    EmailUserError,
    MarketingEmailQueueInput,
    SpaceNotifyInput,
)

MAX_MESSAGE = 2000
MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_RECIPIENTS = 1000


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


def _too_long(field: str, value: str, limit: int) -> list[EmailUserError]:
    if not value.strip():
        return [
            EmailUserError(
                code=EmailErrorCode.REQUIRED, field=[field], message=f"{field} must not be empty."
            )
        ]
    if len(value) > limit:
        return [
            EmailUserError(
                code=EmailErrorCode.TOO_LONG,
                field=[field],
                message=f"{field} may be at most {limit} characters.",
            )
        ]
    return []


async def notify_space(info: Info, input: SpaceNotifyInput) -> EmailQueuePayload:
    """Queue a "space updated" e-mail to every contact with active access to the space."""
    space = await load_space(info, input.space_id)
    errors = _too_long("message", input.message, MAX_MESSAGE)
    if errors:
        return EmailQueuePayload(user_errors=errors)
    queued = await queue_space_updated(info.context.db, space.id, input.message.strip())
    return EmailQueuePayload(queued_count=queued)


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
    table = OutboxMessage.__table__
    stmt = insert(table).from_select(
        ["tenant_id", "id", "kind", "contact_id", "space_id", "payload"], source
    )
    result = await db.execute(stmt)
    return result.rowcount or 0


async def queue_marketing(info: Info, input: MarketingEmailQueueInput) -> EmailQueuePayload:
    """Queue a marketing e-mail to the given contacts whose marketing consent is granted."""
    errors = _too_long("subject", input.subject, MAX_SUBJECT) + _too_long(
        "body", input.body, MAX_BODY
    )
    if len(input.contact_ids) > MAX_RECIPIENTS:
        errors.append(
            EmailUserError(
                code=EmailErrorCode.TOO_MANY,
                field=["contactIds"],
                message=f"At most {MAX_RECIPIENTS} contacts per call.",
            )
        )
    if errors:
        return EmailQueuePayload(user_errors=errors)
    ids = list(dict.fromkeys(decode_id(i, "Contact") for i in input.contact_ids))
    db = info.context.db
    # shared locks: a concurrent withdrawal waits for this transaction, then cancels these rows
    locked = set(await db.scalars(_lock_contacts(ids)))
    if len(locked) != len(ids):
        raise NotFound()  # an unknown or foreign ID: nothing is queued
    latest = await current_consents(db, ids)
    purpose = CONSENT_FOR_KIND[EmailKind.MARKETING.value]
    allowed = [cid for cid, events in zip(ids, latest) if is_granted(events, purpose)]
    payload = {"subject": input.subject.strip(), "body": input.body}
    queued = await enqueue(db, EmailKind.MARKETING, allowed, payload=payload)
    return EmailQueuePayload(queued_count=queued, skipped_count=len(ids) - queued)


def _lock_contacts(ids: list[uuid.UUID]) -> Any:
    from models import Contact

    return select(Contact.id).where(Contact.id.in_(ids)).with_for_update(read=True)
