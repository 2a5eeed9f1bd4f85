"""Row-level security, the database's own guarantee of tenant isolation.

Invariants:
- the application role is not a superuser, cannot bypass RLS and owns no table;
- every table but alembic_version has RLS enabled and forced, with a policy;
- connected as the application role with no tenant set, every tenant table reads empty,
  also on a pooled connection whose previous transaction had a tenant;
- with tenant A set, a row for tenant B can be neither inserted nor moved there.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.config import APP_ROLE
from tests.factories import make_spaces

TABLES = text(
    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner, "
    "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'alembic_version'"
)


@pytest.fixture
async def app_role_engine(settings) -> AsyncEngine:
    engine = create_async_engine(settings.app_url(), pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _tables(owner_engine: AsyncEngine) -> list:
    async with owner_engine.connect() as conn:
        return (await conn.execute(TABLES)).all()


async def test_app_role_has_no_privilege_to_bypass(app_role_engine):
    async with app_role_engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
                )
            )
        ).one()
    assert tuple(row) == (APP_ROLE, False, False)


async def test_every_table_forces_rls_with_a_policy(owner_engine):
    tables = await _tables(owner_engine)
    assert {"tenants", "members", "api_tokens", "spaces", "blocks"} <= {t.relname for t in tables}
    for t in tables:
        assert t.relrowsecurity and t.relforcerowsecurity and t.policies >= 1, t.relname
        assert t.owner != APP_ROLE, t.relname


async def test_no_tenant_reads_zero_rows_everywhere(
    app_role_engine, owner_engine, new_tenant, owner_url
):
    tenant = await new_tenant()
    await make_spaces(owner_url, tenant.tenant_id, 2, blocks_each=2)
    tables = [t.relname for t in await _tables(owner_engine)]
    async with owner_engine.connect() as conn:
        assert (
            await conn.scalar(text("SELECT count(*) FROM blocks")) > 0
        )  # owner is a superuser here
    async with app_role_engine.connect() as conn:
        # a previous transaction on this same connection had a tenant set
        async with conn.begin():
            await conn.execute(
                text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
            )
            assert await conn.scalar(text("SELECT count(*) FROM spaces")) == 2
        for table in tables:
            async with conn.begin():
                assert await conn.scalar(text(f'SELECT count(*) FROM "{table}"')) == 0, table


async def test_tenant_a_cannot_write_rows_of_tenant_b(app_role_engine, new_tenant, owner_url):
    a, b = await new_tenant("A"), await new_tenant("B")
    await make_spaces(owner_url, a.tenant_id, 1)
    async with app_role_engine.connect() as conn:
        with pytest.raises(DBAPIError, match="row-level security"):
            async with conn.begin():
                await conn.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(a.tenant_id)}
                )
                await conn.execute(
                    text(
                        "INSERT INTO spaces (tenant_id, id, title, slug) VALUES (:b, :id, 'x', 'x')"
                    ),
                    {"b": b.tenant_id, "id": uuid.uuid4()},
                )
        with pytest.raises(DBAPIError, match="row-level security"):
            async with conn.begin():
                await conn.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(a.tenant_id)}
                )
                await conn.execute(text("UPDATE spaces SET tenant_id = :b"), {"b": b.tenant_id})


async def test_token_lookup_function_is_the_only_way_in(app_role_engine):
    """The app role cannot read the token table without a tenant; only app_authenticate can."""
    async with app_role_engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM api_tokens")) == 0
        rows = (
            await conn.execute(text("SELECT * FROM app_authenticate(:h)"), {"h": b"\x00" * 32})
        ).all()
        assert rows == []
