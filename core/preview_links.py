"""Preview links: a signed, expiring credential that reads one space's draft.

The secret is `msd_` and a token sealed by core/signed.py under a key derived for this
purpose alone: it names the preview (its `api_tokens` row), the space and the expiry. Only
its SHA-256 is stored, like every credential's, so the database decides on every request
whether it still stands (revoked, expired: `app_token_match`); the signature lets the
preview page refuse an altered link before any lookup, and say why a link is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from core import signed
from core.errors import ApiError

PREFIX = "msd_"
PURPOSE = b"microspace.preview-link.v1"
VERSION = 1
# what core/auth.py accepts of any bearer token; a sealed preview is about 130 characters
MAX_TOKEN_CHARS = 200


class PreviewLinkRefused(ApiError):
    """A preview link that does not open: each reason its own code."""


class PreviewLinkInvalid(PreviewLinkRefused):
    code = "PREVIEW_LINK_INVALID"
    default_message = "This preview link is not valid."


class PreviewLinkExpired(PreviewLinkRefused):
    code = "PREVIEW_LINK_EXPIRED"
    default_message = "This preview link has expired; ask its sender for a new one."


class PreviewLinkRevoked(PreviewLinkRefused):
    code = "PREVIEW_LINK_REVOKED"
    default_message = "This preview link has been revoked; ask its sender for a new one."


# core/auth.py's refusal of a preview secret -> the error a request answers with
REFUSED: dict[str, type[PreviewLinkRefused]] = {
    "preview_invalid": PreviewLinkInvalid,
    "preview_expired": PreviewLinkExpired,
    "preview_revoked": PreviewLinkRevoked,
}


@dataclass(frozen=True)
class PreviewLink:
    preview_id: uuid.UUID
    space_id: uuid.UUID
    expires_at: datetime


def _uuid(text: object) -> uuid.UUID:
    if not isinstance(text, str):
        raise TypeError("not an id")
    return uuid.UUID(bytes=signed.unb64(text))


def sign_preview(secret: bytes, link: PreviewLink) -> str:
    """The preview's secret (shown once: only its hash is stored)."""
    payload = {
        "v": VERSION,
        "p": signed.b64(link.preview_id.bytes),
        "s": signed.b64(link.space_id.bytes),
        "e": int(link.expires_at.timestamp()),
    }
    return PREFIX + signed.seal(secret, PURPOSE, payload)


def verify_preview(secret: bytes, token: str, *, now: datetime | None = None) -> PreviewLink:
    """The preview a genuine, unexpired secret names; PreviewLinkInvalid or -Expired.
    Whether it was revoked is the database's to say."""
    if not token.startswith(PREFIX):
        raise PreviewLinkInvalid()
    try:
        payload = signed.unseal(secret, PURPOSE, token[len(PREFIX) :], max_chars=MAX_TOKEN_CHARS)
        if payload["v"] != VERSION or not isinstance(payload["e"], int):
            raise ValueError("unknown version")
        link = PreviewLink(
            _uuid(payload["p"]), _uuid(payload["s"]), datetime.fromtimestamp(payload["e"], UTC)
        )
    except (signed.Unsealed, ValueError, KeyError, TypeError, OverflowError, OSError):
        raise PreviewLinkInvalid() from None
    if (now or datetime.now(UTC)) >= link.expires_at:
        raise PreviewLinkExpired()
    return link
