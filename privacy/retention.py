"""Retention: after a subscription ends and the grace period passes, erase the tenant's
personal data with the same engine as a subject's erasure, and record that it did.

Content (spaces, blocks, policies) stays, as docs/privacy.md "Retention" says; deleting the
whole account is the owners' choice (privacy/account.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.audit import append_entries
from files.assets import StorageNeeded, erase_tenant_files
from files.storage import Storage
from models import ApiToken, Asset, Contact, SubscriptionStatus, Tenant
from privacy.erasure import apply_step, erase_columns, steps, unit, unlinked_personal_models
from privacy.members import erase_account_people


async def due_tenants(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime, grace_days: int
) -> list[uuid.UUID]:
    """Tenants whose subscription ended more than `grace_days` before `now`, not yet purged."""
    cutoff = now - timedelta(days=grace_days)
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Tenant.id).where(
                Tenant.subscription_status == SubscriptionStatus.ENDED.value,
                Tenant.subscription_ends_at.is_not(None),
                Tenant.subscription_ends_at <= cutoff,
                Tenant.personal_data_purged_at.is_(None),
            )
        )
        return list(rows)


async def purge_tenant(
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    *,
    now: datetime,
    storage: Storage | None = None,
) -> None:
    """Erase every contact's data (one transaction per table, so a crash resumes), then the
    personal columns of the tables that reference no contact (members, the request trail),
    as the personal-data map declares them, then every file of the tenant (rows and bytes:
    photos and documents may hold anyone's data), then mark the tenant purged."""
    async with unit(sessionmaker, tenant_id) as db:
        contact_ids = list(await db.scalars(select(Contact.id)))
    for _name, model, link in steps():
        async with unit(sessionmaker, tenant_id) as db:
            await apply_step(db, model, link, contact_ids, storage)
    async with unit(sessionmaker, tenant_id) as db:
        if storage is not None:
            await erase_tenant_files(db, storage)
        elif await db.scalar(select(Asset.id).limit(1)) is not None:
            raise StorageNeeded("the retention purge of a tenant with files needs the storage")
        for model in unlinked_personal_models():
            await erase_columns(db, model)  # every row of the tenant (the session's scope)
        # member sign-ins and e-mail, and the journal entry a restore needs to repeat this
        await erase_account_people(db)
        await db.execute(
            update(ApiToken)
            .where(ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        await append_entries(
            db,
            "system",
            None,
            None,
            [{"operation": "erase", "subjects": [], "fields": ["retention"]}],
        )
        await db.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(personal_data_purged_at=now)
        )


async def run_retention(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    grace_days: int,
    storage: Storage | None = None,
) -> list[uuid.UUID]:
    """Purge every due tenant; returns their ids."""
    purged = []
    for tenant_id in await due_tenants(sessionmaker, now=now, grace_days=grace_days):
        await purge_tenant(sessionmaker, tenant_id, now=now, storage=storage)
        purged.append(tenant_id)
    return purged
