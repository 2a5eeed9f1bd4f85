"""One-click opt-out (RFC 8058): the signed link in every marketing e-mail, and what a POST
to it does.

The token is `base64url(payload) "." base64url(HMAC-SHA256)` under a key derived for this
purpose only. The payload names the tenant, the contact id and the purpose: ids, never an
address or a name. It does not expire: a link in an old e-mail must still work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

from sqlalchemy import update

from core.db import Db
from models import ConsentEvent, OutboxMessage
from models.consent import ConsentAction, ConsentSource
from models.outbox import CONSENT_FOR_KIND, OutboxStatus
from store.consent_ledger import current_consents, is_granted, lock_contact

PURPOSE_KEY = b"microspace.endpoints.unsubscribe.v1"
VERSION = 1
MAX_TOKEN_CHARS = 300
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


class UnsubscribeInvalid(Exception):
    """Malformed, tampered with, or signed with another key."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _signature(secret: bytes, part: str) -> str:
    key = hmac.new(secret, PURPOSE_KEY, hashlib.sha256).digest()
    return _b64(hmac.new(key, part.encode("ascii"), hashlib.sha256).digest())


def sign(secret: bytes, *, tenant_id: uuid.UUID, contact_id: uuid.UUID, purpose: str) -> str:
    payload = {"v": VERSION, "t": str(tenant_id), "c": str(contact_id), "p": purpose}
    part = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{part}.{_signature(secret, part)}"


def verify(secret: bytes, token: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    """(tenant_id, contact_id, purpose) of a genuine token, else UnsubscribeInvalid."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1 or not token.isascii():
        raise UnsubscribeInvalid("malformed link")
    part, signature = token.split(".")
    if not hmac.compare_digest(signature.encode(), _signature(secret, part).encode()):
        raise UnsubscribeInvalid("signature does not match")
    try:
        payload = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        if payload["v"] != VERSION or payload["p"] not in CONSENT_FOR_KIND.values():
            raise ValueError("unknown version or purpose")
        return uuid.UUID(payload["t"]), uuid.UUID(payload["c"]), str(payload["p"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsubscribeInvalid("malformed payload") from exc


def link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"


async def withdraw_by_link(db: Db, contact_id: uuid.UUID, purpose: str) -> bool:
    """Withdraw the purpose for the contact, recorded with source `one_click`, and cancel its
    queued e-mail that needs it. Idempotent: False if nothing changed (already withdrawn,
    or the contact no longer exists)."""
    # exclusive, like consentWithdraw: the worker holds it shared while it checks consent
    if not await lock_contact(db, contact_id, exclusive=True):
        return False
    if not is_granted((await current_consents(db, [contact_id]))[0], purpose):
        return False
    db.add(
        ConsentEvent(
            id=uuid.uuid4(),
            contact_id=contact_id,
            purpose=purpose,
            action=ConsentAction.WITHDRAWN.value,
            source=ConsentSource.ONE_CLICK.value,
        )
    )
    await db.flush()
    kinds = [kind for kind, needed in CONSENT_FOR_KIND.items() if needed == purpose]
    await db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.contact_id == contact_id,
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.kind.in_(kinds),
        )
        .values(status=OutboxStatus.CANCELLED.value, last_error="consent withdrawn")
        .execution_options(synchronize_session=False)
    )
    return True
