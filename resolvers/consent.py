"""Consent: grant and withdraw (appending to the ledger); read the history.

A withdrawal is privacy/consent.py `withdraw`, the same for every caller (a member, a
partner, a visitor's own change, the one-click link): it takes effect at once, in the same
transaction.
"""

from __future__ import annotations

from core.errors import NotFound
from models import ConsentEvent as ConsentEventModel
from models.consent import ConsentAction, ConsentPurpose, ConsentSource
from privacy import consent as consent_ops
from privacy.consent import MAX_EVIDENCE, MAX_POLICY_VERSION
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


def _refusals(
    input: ConsentGrantInput | ConsentWithdrawInput, action: ConsentAction
) -> list[ConsentUserError]:
    errors = _validate(
        input.policy_version, input.evidence, policy_required=action is ConsentAction.GRANTED
    )
    if input.source.value == ConsentSource.ONE_CLICK.value:
        errors.append(
            ConsentUserError(
                code=ConsentErrorCode.RESERVED_SOURCE,
                field=["source"],
                message="ONE_CLICK is recorded only by the contact's own unsubscribe link.",
            )
        )
    return errors


def _payload(info: Info, row: ConsentEventModel) -> ConsentPayload:
    forget_contact(info.context.loaders, row.contact_id)
    return ConsentPayload(
        consent=Consent.from_event(ConsentPurpose(row.purpose), row, row.contact_id),
        event=ConsentEvent.from_model(row),
    )


async def grant_consent(info: Info, input: ConsentGrantInput) -> ConsentPayload:
    """Record that a contact granted consent for a purpose."""
    contact = await load_contact(info, input.contact_id)
    if errors := _refusals(input, ConsentAction.GRANTED):
        return ConsentPayload(user_errors=errors)
    # exclusive: usage recording and e-mail sending hold it shared while they check consent
    if not await lock_contact(info.context.db, contact.id, exclusive=True):
        raise NotFound()  # erased since it was loaded: as if it never existed
    row = await consent_ops.append(
        info.context.db,
        contact.id,
        input.purpose.value,
        ConsentAction.GRANTED,
        ConsentSource(input.source.value),
        policy_version=(input.policy_version or "").strip() or None,
        evidence=input.evidence or None,
        recorded_by=info.context.principal.token_id,
    )
    info.context.audit.record("consent_granted", contact.id, ["consents"])
    await info.context.emit("consent.granted", row.id, ["consents"])
    return _payload(info, row)


async def withdraw_consent(info: Info, input: ConsentWithdrawInput) -> ConsentPayload:
    """Record a withdrawal; it takes effect at once for everything that depends on it."""
    contact = await load_contact(info, input.contact_id)
    if errors := _refusals(input, ConsentAction.WITHDRAWN):
        return ConsentPayload(user_errors=errors)
    principal = info.context.principal
    row = await consent_ops.withdraw(
        info.context.db,
        contact.id,
        input.purpose.value,
        source=ConsentSource(input.source.value),
        audit=info.context.audit,
        actor=principal.kind,
        recorded_by=principal.token_id,
        policy_version=(input.policy_version or "").strip() or None,
        evidence=input.evidence or None,
    )
    if row is None:
        raise NotFound()  # erased since it was loaded: as if it never existed
    return _payload(info, row)
