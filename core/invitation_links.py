"""Signed, expiring invitation links: `base64url(payload) "." base64url(HMAC-SHA256(payload))`.

The payload names the tenant, the space and the contact invited to it, the invitation it
was made for (the access's `invited_at`, which a re-invitation changes, so the link of an
earlier invitation never opens again) and the expiry. The key is derived for this purpose
alone, so an export link (privacy/links.py) or any other value signed with the same secret
never verifies as an invitation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core import signed

VERSION = 2
# links of version 1 (no invitation instance) were sent for at most the link TTL (14 days)
# before version 2: they open only if made after the access's invitation (endpoint)
LEGACY_VERSION = 1
PURPOSE = b"microspace.invitation-link.v1"
MAX_TOKEN_CHARS = 512
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvitationLinkError(Exception):
    code = "INVITATION_LINK_INVALID"


class InvitationLinkInvalid(InvitationLinkError):
    """Malformed, tampered with, or signed with another key."""


class InvitationLinkExpired(InvitationLinkError):
    code = "INVITATION_LINK_EXPIRED"


@dataclass(frozen=True)
class Invitation:
    tenant_id: uuid.UUID
    space_id: uuid.UUID
    contact_id: uuid.UUID
    # the access's invited_at when the link was made; None in a version 1 link
    invited_at: datetime | None = None


@dataclass(frozen=True)
class SignedInvitation:
    invitation: Invitation
    expires_at: datetime


def _micros(value: datetime) -> int:
    # exact, unlike a float timestamp: compared with the column for equality
    return (value - EPOCH) // timedelta(microseconds=1)


def sign_invitation(secret: bytes, invitation: Invitation, *, expires_at: datetime) -> str:
    """A token for one contact's invitation to one space, valid until `expires_at` (aware)."""
    if expires_at.tzinfo is None or invitation.invited_at is None:
        raise ValueError("expires_at and invited_at must be set (aware)")
    payload = {
        "v": VERSION,
        "t": str(invitation.tenant_id),
        "s": str(invitation.space_id),
        "c": str(invitation.contact_id),
        "i": _micros(invitation.invited_at),
        "exp": int(expires_at.timestamp()),
    }
    return signed.seal(secret, PURPOSE, payload)


def verify_invitation(secret: bytes, token: str, *, now: datetime) -> SignedInvitation:
    """The invitation a genuine, unexpired token names; InvitationLinkInvalid or -Expired."""
    try:
        payload = signed.unseal(secret, PURPOSE, token, max_chars=MAX_TOKEN_CHARS)
    except signed.Unsealed as exc:
        raise InvitationLinkInvalid("This invitation link is not valid.") from exc
    try:
        if payload["v"] not in (VERSION, LEGACY_VERSION) or not isinstance(payload["exp"], int):
            raise ValueError("unknown link version")
        invited = payload["i"] if payload["v"] == VERSION else None
        if payload["v"] == VERSION and not isinstance(invited, int):
            raise ValueError("invitation instance")
        invitation = Invitation(
            uuid.UUID(payload["t"]),
            uuid.UUID(payload["s"]),
            uuid.UUID(payload["c"]),
            None if invited is None else EPOCH + timedelta(microseconds=invited),
        )
        expires_at = datetime.fromtimestamp(payload["exp"], UTC)
    except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
        raise InvitationLinkInvalid("This invitation link is not valid.") from exc
    if now.timestamp() >= payload["exp"]:
        raise InvitationLinkExpired(
            "This invitation link has expired; ask the sender to invite you again."
        )
    return SignedInvitation(invitation, expires_at)


@dataclass(frozen=True)
class InvitationLinks:
    """Makes the link an invitation e-mail carries, at send time (microspace/jobs/worker.py)."""

    secret: bytes
    public_url: str
    ttl_seconds: float

    def url(self, invitation: Invitation, *, now: datetime) -> str:
        expires = now + timedelta(seconds=self.ttl_seconds)
        token = sign_invitation(self.secret, invitation, expires_at=expires)
        return f"{self.public_url.rstrip('/')}/invitations/{token}"
