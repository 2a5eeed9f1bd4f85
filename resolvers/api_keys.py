"""API keys: get, list, create, rotate, revoke (partner and widget keys; owners and admins).

`issue_key` and `revoke_key` take a plain `Db` so the CLI twins (microspace/commands/cli.py) run the
same validation and writes as the GraphQL mutations.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import strawberry
from sqlalchemy import select

from core.auth import new_token
from core.db import Db
from core.errors import NotFound
from core.ids import decode_id, encode_id
from models import ApiToken, Space
from models.tenant import KEY_KINDS
from policies.authz import partner_scopes
from schema.api_keys import (
    ApiKey,
    ApiKeyCreateInput,
    ApiKeyErrorCode,
    ApiKeyPayload,
    ApiKeyRotateInput,
    ApiKeySecretPayload,
    ApiKeyUserError,
)
from schema.connection import Connection, list_connection
from schema.context import Info
from store import plans
from store.api_keys import API_KEY_ORDER
from store.events import emit
from store.loaders import forget, load_by_global_id
from store.tokens import HINT_LENGTH, mint_token

MAX_NAME = 200
MAX_ORIGINS = 20
MAX_SPACES = 100
MAX_OVERLAP = 7 * 24 * 3600


def _error(code: ApiKeyErrorCode, field: str, message: str) -> ApiKeyUserError:
    return ApiKeyUserError(code=code, field=[field], message=message)


def origin_error(origin: str) -> str | None:
    """None if `origin` is exactly `scheme://host[:port]` (what a browser sends in Origin)."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return f"{origin!r} is not an origin."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{origin!r} must start with https:// (or http://) and name a host."
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc or origin.endswith(":"):
        return f"{origin!r} must be scheme://host[:port] only, without a path, query or user."
    expected = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port is not None else "")
    if origin != expected:
        return f"{origin!r} must be written exactly (lower case, no trailing slash): {expected}"
    return None


@dataclass
class KeySpec:
    kind: str
    name: str
    scopes: list[str]
    expires_at: datetime | None = None
    space_ids: list[uuid.UUID] | None = None
    allowed_origins: list[str] | None = None


def check_spec(spec: KeySpec, now: datetime) -> list[ApiKeyUserError]:
    """Every problem with a key's description, each naming its field."""
    errors: list[ApiKeyUserError] = []
    name = spec.name.strip()
    if not name:
        errors.append(_error(ApiKeyErrorCode.REQUIRED, "name", "Give the key a name."))
    elif len(name) > MAX_NAME or any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        errors.append(
            _error(
                ApiKeyErrorCode.TOO_LONG,
                "name",
                f"The name may be at most {MAX_NAME} printable characters.",
            )
        )
    known = partner_scopes()
    if spec.kind == "partner":
        if not spec.scopes:
            errors.append(_error(ApiKeyErrorCode.REQUIRED, "scopes", "Give at least one scope."))
        for scope in spec.scopes:
            if scope not in known:
                errors.append(
                    _error(
                        ApiKeyErrorCode.UNKNOWN_SCOPE,
                        "scopes",
                        f"Unknown scope {scope!r}; use any of: {', '.join(known)}.",
                    )
                )
        if spec.space_ids or spec.allowed_origins:
            field = "spaceIds" if spec.space_ids else "allowedOrigins"
            errors.append(
                _error(
                    ApiKeyErrorCode.WIDGET_ONLY, field, "Spaces and origins are for widget keys."
                )
            )
    elif spec.scopes:
        errors.append(
            _error(
                ApiKeyErrorCode.SCOPES_NOT_ALLOWED,
                "scopes",
                "A widget key reads its spaces' published content only; it takes no scopes.",
            )
        )
    for origin in (spec.allowed_origins or [])[: MAX_ORIGINS + 1]:
        problem = origin_error(origin)
        if problem:
            errors.append(_error(ApiKeyErrorCode.INVALID_ORIGIN, "allowedOrigins", problem))
    if len(spec.allowed_origins or []) > MAX_ORIGINS or len(spec.space_ids or []) > MAX_SPACES:
        errors.append(
            _error(
                ApiKeyErrorCode.TOO_LONG,
                "allowedOrigins",
                f"At most {MAX_ORIGINS} origins and {MAX_SPACES} spaces per key.",
            )
        )
    if spec.expires_at is not None and _aware(spec.expires_at) <= now:
        errors.append(
            _error(ApiKeyErrorCode.INVALID_EXPIRY, "expiresAt", "expiresAt must be in the future.")
        )
    return errors


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Issued:
    row: ApiToken
    secret: str


async def issue_key(
    db: Db, spec: KeySpec, created_by: uuid.UUID | None, actor: str
) -> Issued | list[ApiKeyUserError]:
    """Validate and store a new key within the plan's limit; the secret is returned here and
    never again."""
    # here, not in the mutation: the CLI's key-create goes through this function too
    over = await plans.check(db, "api_keys", 1)
    if over is not None:
        return [ApiKeyUserError(code=ApiKeyErrorCode.PLAN_LIMIT, field=None, message=over.message)]
    now = datetime.now(UTC)
    errors = check_spec(spec, now)
    spaces = list(dict.fromkeys(spec.space_ids or []))
    if spaces and not errors:
        found = set(await db.scalars(select(Space.id).where(Space.id.in_(spaces))))
        if len(found) != len(spaces):
            errors.append(
                _error(ApiKeyErrorCode.UNKNOWN_SPACE, "spaceIds", "No such space in this tenant.")
            )
    if errors:
        return errors
    row, secret = await mint_token(
        db,
        spec.kind,
        name=spec.name.strip(),
        scopes=sorted(set(spec.scopes)),
        expires_at=_aware(spec.expires_at) if spec.expires_at else None,
        created_by=created_by,
        space_ids=spaces,
        allowed_origins=list(dict.fromkeys(spec.allowed_origins or [])),
        hint=True,
    )
    await emit(db, "api_key.created", row.id, ["scopes"], actor=actor)
    return Issued(row=row, secret=secret)


async def list_key_rows(db: Db) -> list[ApiToken]:
    """The tenant's partner and widget keys, newest first (CLI `key-list`)."""
    stmt = select(ApiToken).where(ApiToken.kind.in_(KEY_KINDS)).order_by(ApiToken.created_at.desc())
    return list(await db.scalars(stmt))


async def revoke_key(db: Db, key_id: uuid.UUID, actor: str) -> ApiToken | None:
    """Revoke now; its next request fails in every process (the lookup checks revoked_at)."""
    row: ApiToken | None = await db.scalar(
        select(ApiToken).where(ApiToken.id == key_id, ApiToken.kind.in_(KEY_KINDS))
    )
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await db.flush()
        await emit(db, "api_key.revoked", row.id, ["revokedAt"], actor=actor)
    return row


async def load_key(info: Info, global_id: str) -> ApiToken:
    """A partner or widget key of the tenant; NOT_FOUND otherwise (member tokens included)."""
    row: ApiToken = await load_by_global_id(info.context.loaders.api_key_by_id, global_id, "ApiKey")
    if row.kind not in KEY_KINDS:
        raise NotFound()
    return row


def _audit(info: Info, operation: str, row: ApiToken) -> None:
    # the audit names the key (no contact is concerned): the field list carries its ID
    info.context.audit.record(operation, None, [encode_id("ApiKey", row.id)])


async def get_api_key(info: Info, id: strawberry.ID) -> ApiKey:
    """One partner or widget key."""
    return ApiKey.from_model(await load_key(info, id))


async def list_api_keys(
    info: Info, first: int | None = None, after: str | None = None
) -> Connection[ApiKey]:
    """The tenant's partner and widget keys, newest first; never a secret."""
    where = [ApiToken.kind.in_(KEY_KINDS)]
    return await list_connection(
        info, ApiToken, where, first, after, order=API_KEY_ORDER, convert=ApiKey.from_model
    )


async def create_api_key(info: Info, input: ApiKeyCreateInput) -> ApiKeySecretPayload:
    """Issue a key; the payload carries its secret, shown this once."""
    spec = KeySpec(
        kind=input.kind.value,
        name=input.name,
        scopes=list(input.scopes),
        expires_at=input.expires_at,
        space_ids=[decode_id(s, "Space") for s in input.space_ids[: MAX_SPACES + 1]],
        allowed_origins=list(input.allowed_origins),
    )
    ctx = info.context
    issued = await issue_key(ctx.db, spec, ctx.principal.member_id, ctx.principal.kind)
    if isinstance(issued, list):
        return ApiKeySecretPayload(user_errors=issued)
    _audit(info, "api_key_create", issued.row)
    return ApiKeySecretPayload(api_key=ApiKey.from_model(issued.row), secret=issued.secret)


async def rotate_api_key(info: Info, input: ApiKeyRotateInput) -> ApiKeySecretPayload:
    """A new secret; the previous one keeps working for `overlapSeconds` (a second rotation
    ends the first one's overlap at once)."""
    row = await load_key(info, input.id)
    if row.revoked_at is not None:
        error = _error(ApiKeyErrorCode.REVOKED, "id", "A revoked key cannot be rotated.")
        return ApiKeySecretPayload(user_errors=[error])
    if not 0 <= input.overlap_seconds <= MAX_OVERLAP:
        error = _error(
            ApiKeyErrorCode.INVALID_OVERLAP,
            "overlapSeconds",
            f"overlapSeconds must be between 0 and {MAX_OVERLAP} (seven days).",
        )
        return ApiKeySecretPayload(user_errors=[error])
    now = datetime.now(UTC)
    secret, digest = new_token(row.kind)
    row.previous_token_hash, row.token_hash = row.token_hash, digest
    row.previous_expires_at = now + timedelta(seconds=input.overlap_seconds)
    row.rotated_at, row.hint = now, secret[:HINT_LENGTH]
    await info.context.db.flush()
    forget(info.context.loaders.api_key_by_id, row.id)
    await info.context.emit("api_key.rotated", row.id, ["secret"])
    _audit(info, "api_key_rotate", row)
    return ApiKeySecretPayload(api_key=ApiKey.from_model(row), secret=secret)


async def delete_api_key(info: Info, id: strawberry.ID) -> ApiKeyPayload:
    """Revoke a key (the row stays, for the audit trail and the key list)."""
    row = await load_key(info, id)
    revoked = await revoke_key(info.context.db, row.id, info.context.principal.kind)
    assert revoked is not None
    _audit(info, "api_key_revoke", revoked)
    return ApiKeyPayload(api_key=ApiKey.from_model(revoked))
