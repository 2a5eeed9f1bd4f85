"""Consent: grant and withdraw (appending to the ledger); read the history.

A withdrawal takes effect at once, in the same transaction: the contact's queued e-mail that
needs the purpose is cancelled, and withdrawing analytics deletes the stored usage events.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import strawberry
from sqlalchemy import delete, update

from models import ConsentEvent as ConsentEventModel
from models import OutboxMessage, UsageEvent
from models.consent import ConsentAction, ConsentPurpose
from models.outbox import CONSENT_FOR_KIND, OutboxStatus
from resolvers.contacts import load_contact
from schema.consent import (
    Consent,
    ConsentErrorCode,
    ConsentEvent,
    ConsentGrantInput,
    ConsentPayload,
    ConsentUserError,
    ConsentWithdrawInput,
)
from schema.context import Info
from store.consent_ledger import lock_contact
from store.contacts import forget_contact
from store.loaders import load_by_global_id

MAX_EVIDENCE = 2000
MAX_POLICY_VERSION = 50


async def get_consent_event(info: Info, id: strawberry.ID) -> ConsentEvent:
    """One consent event of the caller's tenant."""
    loader = info.context.loaders.consent_event_by_id
    return ConsentEvent.from_model(await load_by_global_id(loader, id, "ConsentEvent"))


def _validate(
    policy_version: str | None, evidence: str | None, *, policy_required: bool
) -> list[ConsentUserError]:
    errors = []
    if policy_required and not (policy_version or "").strip():
        errors.append(
            ConsentUserError(
                code=ConsentErrorCode.REQUIRED,
                field=["policyVersion"],
                message="policyVersion is required to record a grant.",
            )
        )
    if policy_version is not None and len(policy_version.strip()) > MAX_POLICY_VERSION:
        errors.append(
            ConsentUserError(
                code=ConsentErrorCode.TOO_LONG,
                field=["policyVersion"],
                message=f"policyVersion may be at most {MAX_POLICY_VERSION} characters.",
            )
        )
    if evidence is not None and len(evidence) > MAX_EVIDENCE:
        errors.append(
            ConsentUserError(
                code=ConsentErrorCode.TOO_LONG,
                field=["evidence"],
                message=f"evidence may be at most {MAX_EVIDENCE} characters.",
            )
        )
    return errors


async def _record(
    info: Info, input: ConsentGrantInput | ConsentWithdrawInput, action: ConsentAction
) -> ConsentPayload:
    contact = await load_contact(info, input.contact_id)
    errors = _validate(
        input.policy_version, input.evidence, policy_required=action is ConsentAction.GRANTED
    )
    if errors:
        return ConsentPayload(user_errors=errors)
    db = info.context.db
    # exclusive: usage recording and e-mail sending hold it shared while they check consent
    await lock_contact(db, contact.id, exclusive=True)
    row = ConsentEventModel(
        id=uuid.uuid4(),
        contact_id=contact.id,
        purpose=input.purpose.value,
        action=action.value,
        source=input.source.value,
        policy_version=(input.policy_version or "").strip() or None,
        evidence=input.evidence or None,
        recorded_by=info.context.principal.token_id,
    )
    db.add(row)
    await db.flush()
    if action is ConsentAction.WITHDRAWN:
        await _withdraw_effects(info, contact.id, input.purpose.value)
    forget_contact(info.context.loaders, contact.id)
    info.context.audit.record(f"consent_{action.value}", contact.id, ["consents"])
    await info.context.emit(f"consent.{action.value}", row.id, ["consents"])
    return ConsentPayload(
        consent=Consent.from_event(ConsentPurpose(row.purpose), row, row.contact_id),
        event=ConsentEvent.from_model(row),
    )


async def _withdraw_effects(info: Info, contact_id: uuid.UUID, purpose: str) -> None:
    """Everything that depends on the purpose stops now, in the withdrawal's transaction."""
    db = info.context.db
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
        )
    if purpose == ConsentPurpose.ANALYTICS.value:
        # usage events are kept only while analytics consent is granted
        await db.execute(delete(UsageEvent).where(UsageEvent.contact_id == contact_id))


async def grant_consent(info: Info, input: ConsentGrantInput) -> ConsentPayload:
    """Record that a contact granted consent for a purpose."""
    return await _record(info, input, ConsentAction.GRANTED)


async def withdraw_consent(info: Info, input: ConsentWithdrawInput) -> ConsentPayload:
    """Record a withdrawal; it takes effect at once for everything that depends on it."""
    return await _record(info, input, ConsentAction.WITHDRAWN)
