"""Operator twins of the API key mutations (`key-create`, `key-list`, `key-revoke`): the
same validation and writes as GraphQL (resolvers/api_keys.py), audited as the operator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL

from core.audit import append_entries
from core.db import Db, owner_db
from core.ids import InvalidId, decode_id, encode_id
from microspace.commands.tenants import OperatorError
from models import ApiToken, Tenant
from resolvers.api_keys import KeySpec, issue_key, list_key_rows, revoke_key


def _tenant_id(tenant: str) -> uuid.UUID:
    try:
        return uuid.UUID(tenant)
    except ValueError:
        raise OperatorError(f"not a tenant id: {tenant!r}") from None


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise OperatorError(f"--expires is not an ISO 8601 date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# how an error names a GraphQL input field in camelCase: as its option (a plain word such as
# `name` stays, as it may be prose)
OPTIONS = {"expiresAt": "--expires", "spaceIds": "--space", "allowedOrigins": "--origin"}


def _global(value: str, type_name: str, option: str) -> uuid.UUID:
    try:
        return decode_id(value, type_name)
    except InvalidId as exc:
        raise OperatorError(f"{option} {value!r}: {exc}") from None


def _sentences(messages: list[str]) -> str:
    """User errors as the CLI says them: sentences, naming options rather than fields."""
    out = []
    for message in messages:
        for field, option in OPTIONS.items():
            message = message.replace(field, option)
        out.append(message if message.endswith(".") else message + ".")
    return " ".join(out)


def key_json(row: ApiToken, secret: str | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    status = (
        "revoked"
        if row.revoked_at
        else "expired"
        if row.expires_at and row.expires_at <= now
        else "active"
    )
    out: dict[str, Any] = {
        "id": encode_id("ApiKey", row.id),
        "kind": row.kind,
        "name": row.name,
        "scopes": list(row.scopes or []),
        "hint": row.hint,
        "status": status,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "space_ids": [encode_id("Space", s) for s in row.space_ids or []],
        "allowed_origins": list(row.allowed_origins or []),
    }
    if secret is not None:
        out["secret"] = secret
    return out


async def _audit(db: Db, operation: str, row: ApiToken) -> None:
    entry = {"operation": operation, "fields": [encode_id("ApiKey", row.id)], "subjects": []}
    await append_entries(db, "operator", None, None, [entry])


async def _checked_tenant(db: Db, tenant_id: uuid.UUID) -> None:
    if await db.scalar(select(Tenant.id).where(Tenant.id == tenant_id)) is None:
        raise OperatorError(f"no tenant {tenant_id}")


async def create_key(owner_url: URL, tenant: str, spec_args: dict[str, Any]) -> dict[str, Any]:
    tenant_id = _tenant_id(tenant)
    if spec_args["kind"] not in ("partner", "widget"):
        raise OperatorError(f"unknown kind {spec_args['kind']!r}; use partner or widget")
    spec = KeySpec(
        kind=spec_args["kind"],
        name=spec_args["name"],
        scopes=spec_args.get("scopes") or [],
        expires_at=_when(spec_args.get("expires")),
        space_ids=[_global(s, "Space", "--space") for s in spec_args.get("spaces") or []],
        allowed_origins=spec_args.get("origins") or [],
    )
    async with owner_db(owner_url, tenant_id) as db:
        await _checked_tenant(db, tenant_id)
        issued = await issue_key(db, spec, None, "operator")
        if isinstance(issued, list):
            raise OperatorError(_sentences([e.message for e in issued]))
        await _audit(db, "api_key_create", issued.row)
        await db.refresh(issued.row)
        return key_json(issued.row, issued.secret)


async def list_keys(owner_url: URL, tenant: str) -> list[dict[str, Any]]:
    tenant_id = _tenant_id(tenant)
    async with owner_db(owner_url, tenant_id) as db:
        await _checked_tenant(db, tenant_id)
        return [key_json(row) for row in await list_key_rows(db)]


async def revoke(owner_url: URL, tenant: str, key: str) -> dict[str, Any]:
    tenant_id = _tenant_id(tenant)
    key_id = _global(key, "ApiKey", "--id")
    async with owner_db(owner_url, tenant_id) as db:
        await _checked_tenant(db, tenant_id)
        row = await revoke_key(db, key_id, "operator")
        if row is None:
            raise OperatorError(f"no API key {key} in tenant {tenant_id}")
        await _audit(db, "api_key_revoke", row)
        return key_json(row)
