"""Consent changes: the one way to append to the ledger, and the one consent withdrawal.

`withdraw` is every withdrawal, whichever way it comes (`consentWithdraw` of a member, a
partner or a visitor, the one-click unsubscribe link): the ledger row, the audit entry, the
`consent.withdrawn` domain event, the cancelled e-mail and, for analytics, the deleted usage
events, all in the caller's transaction. Only the ledger's `source`, who recorded it and the
actor differ.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, update

from core.audit import AuditBuffer
from core.db import Db
from models import ConsentEvent, OutboxMessage, UsageEvent
from models.consent import ConsentAction, ConsentPurpose, ConsentSource
from models.outbox import CONSENT_FOR_KIND, OutboxStatus
from store.consent_ledger import current_consents, is_granted, lock_contact
from store.events import emit

MAX_EVIDENCE = 2000
MAX_POLICY_VERSION = 50


def grant_values(
    policy_version: str | None, evidence: str | None, source: str
) -> tuple[str, str | None] | None:
    """The policy version and evidence a grant records, as resolvers/consent.py writes them;
    None when it refuses the input with user errors instead (a blank or too long policy
    version, too long evidence, the one-click link's source)."""
    policy = (policy_version or "").strip()
    if not policy or len(policy) > MAX_POLICY_VERSION:
        return None
    if evidence is not None and len(evidence) > MAX_EVIDENCE:
        return None
    if source == ConsentSource.ONE_CLICK.value:
        return None
    return policy, evidence or None


async def append(
    db: Db,
    contact_id: uuid.UUID,
    purpose: str,
    action: ConsentAction,
    source: ConsentSource,
    *,
    policy_version: str | None = None,
    evidence: str | None = None,
    recorded_by: uuid.UUID | None = None,
) -> ConsentEvent:
    """Append one event to the ledger (never updated afterwards). The caller holds the
    contact's lock exclusively (`lock_contact`)."""
    row = ConsentEvent(
        id=uuid.uuid4(),
        contact_id=contact_id,
        purpose=purpose,
        action=action.value,
        source=source.value,
        policy_version=policy_version,
        evidence=evidence,
        recorded_by=recorded_by,
    )
    db.add(row)
    await db.flush()
    return row


async def withdraw(
    db: Db,
    contact_id: uuid.UUID,
    purpose: str,
    *,
    source: ConsentSource,
    audit: AuditBuffer,
    actor: str,
    recorded_by: uuid.UUID | None = None,
    policy_version: str | None = None,
    evidence: str | None = None,
    only_if_granted: bool = False,
) -> ConsentEvent | None:
    """Withdraw `purpose` for the contact; it takes effect at once for everything that
    depends on it. None when nothing was written: the contact does not exist, or
    `only_if_granted` and the purpose is not granted now (a repeated unsubscribe)."""
    # exclusive, first: the worker and usage recording hold it shared, then lock the outbox
    # row (microspace/jobs/worker.py), so a withdrawal and a send never deadlock
    if not await lock_contact(db, contact_id, exclusive=True):
        return None
    if only_if_granted and not is_granted((await current_consents(db, [contact_id]))[0], purpose):
        return None
    row = await append(
        db,
        contact_id,
        purpose,
        ConsentAction.WITHDRAWN,
        source,
        policy_version=policy_version,
        evidence=evidence,
        recorded_by=recorded_by,
    )
    await _stop_what_needs_it(db, contact_id, purpose)
    audit.record("consent_withdrawn", contact_id, ["consents"])
    await emit(db, "consent.withdrawn", row.id, ["consents"], actor=actor)
    return row


async def _stop_what_needs_it(db: Db, contact_id: uuid.UUID, purpose: str) -> None:
    """Queued e-mail that needs the purpose is cancelled; analytics takes its events along."""
    kinds = [kind for kind, needed in CONSENT_FOR_KIND.items() if needed == purpose]
    if kinds:
        await db.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.contact_id == contact_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.kind.in_(kinds),
            )
            .values(
                status=OutboxStatus.CANCELLED.value,
                cancelled_at=datetime.now(UTC),
                last_error="consent withdrawn",
            )
            .execution_options(synchronize_session=False)
        )
    if purpose == ConsentPurpose.ANALYTICS.value:
        # usage events are kept only while analytics consent is granted
        await db.execute(delete(UsageEvent).where(UsageEvent.contact_id == contact_id))
