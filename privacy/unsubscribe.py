"""One-click opt-out (RFC 8058): the signed link in every marketing e-mail, and what a POST
to it does.

The token is `base64url(payload) "." base64url(HMAC-SHA256)` under a key derived for this
purpose only. The payload names the tenant, the contact id and the purpose: ids, never an
address or a name. It does not expire: a link in an old e-mail must still work.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core import signed
from core.audit import AuditBuffer, append_entries
from core.auth import Principal
from core.db import Db
from models.consent import ConsentSource
from models.outbox import CONSENT_FOR_KIND
from privacy.consent import withdraw

PURPOSE_KEY = b"microspace.endpoints.unsubscribe.v1"
VERSION = 1
MAX_TOKEN_CHARS = 300
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


class UnsubscribeInvalid(Exception):
    """Malformed, tampered with, or signed with another key."""


def sign(secret: bytes, *, tenant_id: uuid.UUID, contact_id: uuid.UUID, purpose: str) -> str:
    payload = {"v": VERSION, "t": str(tenant_id), "c": str(contact_id), "p": purpose}
    return signed.seal(secret, PURPOSE_KEY, payload)


def verify(secret: bytes, token: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    """(tenant_id, contact_id, purpose) of a genuine token, else UnsubscribeInvalid."""
    try:
        payload = signed.unseal(secret, PURPOSE_KEY, token, max_chars=MAX_TOKEN_CHARS)
    except signed.Unsealed as exc:
        raise UnsubscribeInvalid(str(exc)) from exc
    try:
        if payload["v"] != VERSION or payload["p"] not in CONSENT_FOR_KIND.values():
            raise ValueError("unknown version or purpose")
        return uuid.UUID(payload["t"]), uuid.UUID(payload["c"]), str(payload["p"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsubscribeInvalid("malformed payload") from exc


def link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"


async def withdraw_by_link(db: Db, contact_id: uuid.UUID, purpose: str, request_id: str) -> bool:
    """The contact's own withdrawal through the link: `privacy.consent.withdraw` with source
    `one_click`, audited as by the data subject. Idempotent: False if nothing changed
    (already withdrawn, or the contact no longer exists)."""
    audit = AuditBuffer(Principal(kind="subject", tenant_id=db.tenant_id), request_id)
    row = await withdraw(
        db,
        contact_id,
        purpose,
        source=ConsentSource.ONE_CLICK,
        audit=audit,
        actor="subject",
        only_if_granted=True,
    )
    if row is None:
        return False
    # audit_append takes who acted from the transaction's authentication, and a link
    # authenticates nobody: the database vouches for the data subject on the strength of
    # the one-click ledger row just written (migration 0014), and for nothing else
    await db.execute(text("SELECT audit_vouch_one_click(:c)"), {"c": contact_id})
    await append_entries(db, "subject", contact_id, request_id, audit.grouped())
    return True
