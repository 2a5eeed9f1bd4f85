"""Bearer tokens and the principal a request acts as."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal

from sqlalchemy import text

from core.db import Db

PrincipalKind = Literal["member", "partner", "widget", "visitor", "preview", "subject", "anonymous"]
TOKEN_PREFIX = {
    "member": "msm_",
    "partner": "msp_",
    "widget": "msw_",
    "subject": "mss_",
    "visitor": "msv_",
    # a preview link's secret is signed, not only random (core/preview_links.py)
    "preview": "msd_",
}
# principals that act from a page on someone else's site: trusted documents only, CORS per key
BROWSER_KINDS = frozenset({"widget", "visitor", "preview"})
# principals built from their own token, member and tenant rows only, with the tenant's
# allow-list: the fast lane checks them by their tenant's credentials epoch (migration 0061)
EPOCH_KINDS = frozenset({"member", "partner"})


def new_token(kind: str) -> tuple[str, bytes]:
    """A random token (256 bits) and the SHA-256 hash that is all we store."""
    token = TOKEN_PREFIX[kind] + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    tenant_id: uuid.UUID | None = None
    # Casbin subjects this principal acts as: a member's role, a partner key's scopes
    subjects: tuple[str, ...] = ()
    token_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None
    # a credential was sent but is unknown or revoked
    rejected: bool = False
    # the tenant's policy overrides version, to reload them when they changed
    policy_version: int = 0
    # a subject's magic-link token speaks for this one contact
    contact_id: uuid.UUID | None = None
    # why a known credential was refused: "revoked", "expired" or "rotated"
    refusal: str | None = None
    # authenticated for a page on another origin, which the credential does not allow
    origin_refused: bool = False
    # the tenant's credentials epoch its authentication saw, and when its secret stops being
    # valid (None: never); an `EPOCH_KINDS` principal's only (migration 0061)
    epoch: int | None = None
    valid_until: datetime | None = None

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous" and self.tenant_id is not None

    # made once: a remembered principal serves request after request (microspace/lane/),
    # each naming its tenant and key a few times
    @functools.cached_property
    def key(self) -> str:
        """Stable identity for memoising, logs and rate limits; never the token itself."""
        return f"{self.kind}:{self.token_id}" if self.token_id else "anonymous"

    @functools.cached_property
    def tenant(self) -> str:
        """`str(tenant_id)`."""
        return str(self.tenant_id)

    def __hash__(self) -> int:
        # the hash dataclass would make (of every field, in order), made once: caches keyed
        # by a principal hash it on every request
        return self._hash

    @functools.cached_property
    def _hash(self) -> int:
        return hash(tuple(getattr(self, f.name) for f in fields(self)))


ANONYMOUS = Principal(kind="anonymous")
REJECTED = Principal(kind="anonymous", rejected=True)


def credential(authorization: str | None, key_param: str | None) -> str | None:
    """The Authorization header, or else a widget key given as the `key` query parameter.

    Widget keys are publishable (they sit in a page's source), so a page may put one in the
    URL: reads then need no custom header, hence no preflight, and a CDN can cache them.
    Only a widget key is taken from a URL; any other token there is ignored.
    """
    if authorization:
        return authorization
    if key_param and key_param.startswith(TOKEN_PREFIX["widget"]):
        return f"Bearer {key_param}"
    return None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return ""
    return value.strip()


# set_config runs on the single row the function returns, scoping this transaction; the
# tenant's credentials epoch is read with the row, in its snapshot (migration 0061)
_AUTHENTICATED = (
    "SELECT a.token_id, a.tenant_id, a.kind, a.member_id, a.role, a.scopes, a.policy_version, "
    "a.contact_id, set_config('app.tenant_id', a.tenant_id::text, true), a.epoch, "
    "a.valid_until{} FROM app_authenticate(:hash) AS a"
)
AUTHENTICATE = text(_AUTHENTICATED.format(""))
# the same, and whether the credential may be used from a page on `origin` (its allow-list,
# app_cors_origins): a browser's request is checked in its own authentication, no statement
# of its own (microspace/web/cors.py)
AUTHENTICATE_FROM = text(
    _AUTHENTICATED.format(
        ", CAST(:origin AS text) = ANY(app_cors_origins(:hash)) AS origin_allowed"
    )
)

REFUSAL = text("SELECT app_token_refusal(:hash)")
# what the holder of a refused secret is told (extensions.reason carries the key)
REFUSALS = {
    "revoked": "This API key has been revoked.",
    "expired": "This API key has expired.",
    "rotated": "This secret was rotated out and its overlap has ended; use the new secret.",
}


async def act_as_key(db: Db, token_hash: bytes) -> bool:
    """Scope `db` to a stored key's tenant and principal, as a request with its secret
    would (the worker, which holds only the hash, audits a key's webhook reads this way);
    False when the key no longer authenticates (revoked, expired)."""
    row = (await db.execute(AUTHENTICATE, {"hash": token_hash})).first()
    if row is None:
        return False
    db.adopt_tenant(row.tenant_id)
    return True


def subjects_of(kind: str, role: str | None, scopes: Sequence[str] | None) -> tuple[str, ...]:
    """The Casbin subjects of a credential's row: a member's role, a partner key's scopes,
    any other kind itself."""
    if kind == "member":
        return (role,) if role else ()
    if kind == "partner":
        return tuple(scopes or ())
    return (kind,)


def _refused_preview(refusal: str | None) -> Principal:
    """A preview link's secret that does not open: revoked, expired, or (altered, forged,
    never issued, another tenant's deleted one) invalid, each with its own code."""
    why = refusal if refusal in ("revoked", "expired") else "invalid"
    return Principal(kind="anonymous", rejected=True, refusal=f"preview_{why}")


async def authenticate(db: Db, authorization: str | None, origin: str | None = None) -> Principal:
    """Resolve the Authorization header to a principal, scoping `db` to its tenant; with
    `origin` (a page on another origin sent it), say whether the credential allows it."""
    token = bearer_token(authorization)
    if token is None:
        return ANONYMOUS
    preview = token.startswith(TOKEN_PREFIX["preview"])
    if not token or len(token) > 200:
        return _refused_preview(None) if preview else REJECTED
    digest = hash_token(token)
    if origin is None:
        rows = (await db.execute(AUTHENTICATE, {"hash": digest})).all()
    else:
        rows = (await db.execute(AUTHENTICATE_FROM, {"hash": digest, "origin": origin})).all()
    if len(rows) > 1:
        # a hash is unique per tenant (migration 0008); two matches would be ambiguous
        return REJECTED
    row = rows[0] if rows else None
    if row is None:
        refusal = await db.scalar(REFUSAL, {"hash": digest})
        if preview:
            return _refused_preview(refusal)
        return Principal(kind="anonymous", rejected=True, refusal=refusal) if refusal else REJECTED
    db.adopt_tenant(row.tenant_id)
    known = row.kind in EPOCH_KINDS and row.epoch is not None
    return Principal(
        kind=row.kind,
        tenant_id=row.tenant_id,
        subjects=subjects_of(row.kind, row.role, row.scopes),
        token_id=row.token_id,
        member_id=row.member_id,
        policy_version=row.policy_version,
        contact_id=row.contact_id,
        origin_refused=origin is not None and not row.origin_allowed,
        epoch=row.epoch if known else None,
        valid_until=row.valid_until if known else None,
    )
