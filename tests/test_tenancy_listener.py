"""The application layer of tenancy: every ORM statement is scoped, even for the owner.

The owner connection (CLI, worker, tests) is a superuser here and bypasses RLS, so these
checks see the listener alone.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, func, select

from core.db import owner_db
from models import Space
from models.tenancy import TenantScopeMissing
from tests.factories import make_spaces


async def test_every_statement_shape_is_scoped(owner_url, new_tenant):
    a, b = await new_tenant("A"), await new_tenant("B")
    await make_spaces(owner_url, a.tenant_id, 2)
    await make_spaces(owner_url, b.tenant_id, 3)
    async with owner_db(owner_url, a.tenant_id) as db:
        assert len(await db.scalars(select(Space))) == 2
        assert await db.scalar(select(func.count()).select_from(Space)) == 2
        assert await db.scalar(select(func.count(Space.id))) == 2
        await db.execute(delete(Space))
    async with owner_db(owner_url, b.tenant_id) as db:
        assert await db.scalar(select(func.count()).select_from(Space)) == 3


async def test_no_tenant_refuses_to_run(owner_url):
    async with owner_db(owner_url) as db:
        for stmt in (select(Space), select(func.count()).select_from(Space), delete(Space)):
            with pytest.raises(TenantScopeMissing):
                await db.execute(stmt)


async def test_writing_a_row_of_another_tenant_is_refused(owner_url, new_tenant):
    a = await new_tenant()
    with pytest.raises(TenantScopeMissing):
        async with owner_db(owner_url, a.tenant_id) as db:
            db.add(
                Space(tenant_id=uuid.uuid4(), id=uuid.uuid4(), title="x", slug="x", description="")
            )
            await db.flush()
