"""E-mail: queue automated e-mail in the outbox, in the transaction of the change.

The worker (microspace/jobs/worker.py) sends it later. Marketing e-mail is queued only while the
contact's marketing consent is granted, and the worker checks again at send time.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from core.errors import NotFound
from core.ids import decode_id
from models.outbox import CONSENT_FOR_KIND, EmailKind
from resolvers.plans import limit_message
from resolvers.spaces import load_space
from schema.context import Info
from schema.emails import (
    EmailErrorCode,
    EmailQueuePayload,
    EmailUserError,
    MarketingEmailQueueInput,
    SpaceNotifyInput,
)
from store import plans
from store.consent_ledger import current_consents, is_granted
from store.outbox import active_recipients, enqueue, queue_space_updated

MAX_MESSAGE = 2000
MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_RECIPIENTS = 1000


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
    over = await plans.check(
        info.context.db, "emails_per_month", await active_recipients(info.context.db, space.id)
    )
    if over is not None:
        return EmailQueuePayload(user_errors=[_plan_limit(info, over)])
    queued = await queue_space_updated(info.context.db, space.id, input.message.strip())
    await info.context.emit("email.queued", space.id)
    return EmailQueuePayload(queued_count=queued)


def _plan_limit(info: Info, over: plans.PlanLimit) -> EmailUserError:
    return EmailUserError(
        code=EmailErrorCode.PLAN_LIMIT, field=None, message=limit_message(info, over)
    )


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
    over = await plans.check(db, "emails_per_month", len(allowed))
    if over is not None:
        return EmailQueuePayload(user_errors=[_plan_limit(info, over)])
    payload = {"subject": input.subject.strip(), "body": input.body}
    queued = await enqueue(db, EmailKind.MARKETING, allowed, payload=payload)
    await info.context.emit("marketing_email.queued", allowed)
    if not info.context.authz.can("Consent", "read"):
        # per-contact skips would reveal consent to a key that may not read it: audited only
        for cid in set(ids) - set(allowed):
            info.context.audit.record("marketing_skipped_no_consent", cid, [])
        return EmailQueuePayload(accepted_count=len(ids), queued_count=None, skipped_count=None)
    return EmailQueuePayload(
        accepted_count=len(ids), queued_count=queued, skipped_count=len(ids) - queued
    )


def _lock_contacts(ids: list[uuid.UUID]) -> Any:
    from models import Contact

    return select(Contact.id).where(Contact.id.in_(ids)).with_for_update(read=True)
