"""Retention: after a subscription ends and the grace period passes, erase the tenant's
personal data with the same engine as a subject's erasure, and record that it did."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.audit import append_entries
from models import ApiToken, Contact, SubjectRequest, SubjectRequestEvent, Tenant
from privacy.erasure import apply_step, steps, unit
from privacy.members import erase_account_people


async def due_tenants(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime, grace_days: int
) -> list[uuid.UUID]:
    """Tenants whose subscription ended more than `grace_days` before `now`, not yet purged."""
    cutoff = now - timedelta(days=grace_days)
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Tenant.id).where(
                Tenant.subscription_status == "ended",
                Tenant.subscription_ends_at.is_not(None),
                Tenant.subscription_ends_at <= cutoff,
                Tenant.personal_data_purged_at.is_(None),
            )
        )
        return list(rows)


async def purge_tenant(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, *, now: datetime
) -> None:
    """Erase every contact's data (one transaction per table, so a crash resumes), then the
    personal data outside the contact tables, then mark the tenant purged."""
    async with unit(sessionmaker, tenant_id) as db:
        contact_ids = list(await db.scalars(select(Contact.id)))
    for _name, model, link in steps():
        async with unit(sessionmaker, tenant_id) as db:
            await apply_step(db, model, link, contact_ids)
    async with unit(sessionmaker, tenant_id) as db:
        await db.execute(
            update(SubjectRequest)
            .values(
                subject_email=func.concat("hmac:", func.encode(SubjectRequest.subject_hash, "hex")),
                changes=None,
            )
            .execution_options(synchronize_session=False)
        )
        await db.execute(
            update(SubjectRequestEvent)
            .values(note=None)
            .execution_options(synchronize_session=False)
        )
        # members, the tenant profile and sign-ins, from the personal-data map; journalled
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
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime, grace_days: int
) -> list[uuid.UUID]:
    """Purge every due tenant; returns their ids."""
    purged = []
    for tenant_id in await due_tenants(sessionmaker, now=now, grace_days=grace_days):
        await purge_tenant(sessionmaker, tenant_id, now=now)
        purged.append(tenant_id)
    return purged
