"""Signed, expiring export links: `base64url(payload) "." base64url(HMAC-SHA256(payload))`.

The payload names the tenant, the subject request and the expiry; the signature is over the
encoded payload exactly as sent, so any changed character fails. A link is not a credential
on its own: the download also needs a bearer token of the same tenant (microspace/endpoints/exports.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from core import signed

VERSION = 1
# a derived key: the configured secret also keys the suppression hashes, and a value signed
# for one purpose must never verify for the other
PURPOSE = b"microspace.export-link.v1"
MAX_TOKEN_CHARS = 512


class LinkError(Exception):
    """The link cannot be used."""


class LinkInvalid(LinkError):
    """Malformed, tampered with, or signed with another key: as if it never existed."""


class LinkExpired(LinkError):
    """Genuine but past its expiry; carries what it names so the caller can check the tenant."""

    def __init__(self, tenant_id: uuid.UUID, request_id: uuid.UUID) -> None:
        super().__init__("export link expired")
        self.tenant_id = tenant_id
        self.request_id = request_id


def sign_link(
    secret: bytes, *, tenant_id: uuid.UUID, request_id: uuid.UUID, expires_at: datetime
) -> str:
    """A token for one subject request of one tenant, valid until `expires_at` (aware)."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = {
        "v": VERSION,
        "t": str(tenant_id),
        "r": str(request_id),
        "exp": int(expires_at.timestamp()),
    }
    return signed.seal(secret, PURPOSE, payload)


# clock skew between the process that signed a link and the one that checks it
SKEW_SECONDS = 60


def verify_link(
    secret: bytes, token: str, *, now: datetime, max_ttl: float | None = None
) -> tuple[uuid.UUID, uuid.UUID]:
    """(tenant_id, request_id) of a genuine, unexpired link; LinkInvalid or LinkExpired.

    With `max_ttl`, a link whose expiry lies further ahead than any link this installation
    issues is refused as invalid: even a genuine-looking long-lived link is never honoured.
    """
    try:
        payload = signed.unseal(secret, PURPOSE, token, max_chars=MAX_TOKEN_CHARS)
    except signed.Unsealed as exc:
        raise LinkInvalid(f"export link: {exc}") from exc
    try:
        if payload["v"] != VERSION or not isinstance(payload["exp"], int):
            raise ValueError("unknown link version")
        tenant_id, request_id = uuid.UUID(payload["t"]), uuid.UUID(payload["r"])
    except (ValueError, KeyError, TypeError) as exc:
        # signed by us but not in this shape: treat as malformed, never as a server error
        raise LinkInvalid("malformed export link payload") from exc
    if max_ttl is not None and payload["exp"] - now.timestamp() > max_ttl + SKEW_SECONDS:
        raise LinkInvalid("export link expiry beyond the configured maximum")
    if now.timestamp() >= payload["exp"]:
        raise LinkExpired(tenant_id, request_id)
    return tenant_id, request_id
