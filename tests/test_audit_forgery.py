"""The application role cannot forge who an audit entry is by.

Invariants:
- `audit_append` takes the principal from the transaction's authentication
  (`app_authenticate`), never from its arguments: an entry claimed for another principal
  kind or id is recorded as the authenticated principal;
- without an authentication in the transaction, the application role cannot append at all;
- the application role cannot plant its own record of who is authenticated (the record is
  signed with a key only the owner reads), nor call the signing function.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.auth import hash_token

APPEND = (
    "SELECT audit_append('system', :p, 'forged', "
    """CAST('[{"operation": "erase", "subjects": [], "fields": ["forged"]}]' AS jsonb))"""
)


async def _as_app(settings, tenant, statements, token: str | None = None):
    engine = create_async_engine(settings.app_url())
    try:
        async with engine.connect() as conn, conn.begin():
            if token is not None:
                await conn.execute(
                    text(
                        "SELECT set_config('app.tenant_id', a.tenant_id::text, true) "
                        "FROM app_authenticate(:h) a"
                    ),
                    {"h": hash_token(token)},
                )
            else:
                await conn.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"),
                    {"t": str(tenant.tenant_id)},
                )
            for stmt in statements:
                await conn.execute(text(stmt), {"p": uuid.uuid4()})
    finally:
        await engine.dispose()


async def test_entries_carry_the_authenticated_principal(settings, new_tenant, owner_engine):
    tenant = await new_tenant()
    await _as_app(settings, tenant, [APPEND], token=tenant.token)
    async with owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT principal_kind, principal_id FROM audit_log "
                    "WHERE tenant_id = :t AND request_id = 'forged'"
                ),
                {"t": tenant.tenant_id},
            )
        ).all()
    assert [r.principal_kind for r in rows] == ["member"]
    assert rows[0].principal_id == tenant.member_id


async def test_no_authentication_no_append(settings, new_tenant):
    tenant = await new_tenant()
    with pytest.raises(DBAPIError, match="authenticated principal"):
        await _as_app(settings, tenant, [APPEND])


async def test_the_app_role_cannot_plant_its_own_principal(settings, new_tenant):
    tenant = await new_tenant()
    claim = f"{tenant.tenant_id}:system:{uuid.uuid4()}:{'0' * 64}"
    plant = [f"SELECT set_config('app.principal', '{claim}', true)", APPEND]
    with pytest.raises(DBAPIError):
        await _as_app(settings, tenant, plant)


async def test_the_app_role_cannot_sign_a_claim(settings, new_tenant):
    tenant = await new_tenant()
    with pytest.raises(DBAPIError, match="permission denied"):
        await _as_app(settings, tenant, ["SELECT audit_principal_signature('x')"])
    engine = create_async_engine(settings.app_url())
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM audit_key")) == 0
    finally:
        await engine.dispose()
