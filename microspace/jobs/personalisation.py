"""Personalisation jobs, carried out by the worker on every pass (store/templates.py).

Tenancy as for schedules: `app_personalisation_jobs_due()` (migration 0044) lists the keys
of queued jobs of every tenant; each is carried out in a transaction of its own tenant,
under row-level security, which claims it, makes its spaces and marks it done, or changes
nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Db, unit_of_work
from store.templates import carry_out

log = logging.getLogger("microspace.jobs.personalisation")
BATCH = 20


async def run_personalisations(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Carry out the queued personalisation jobs; how many this worker carried out."""
    async with sessionmaker() as session:
        due = (
            await session.execute(
                text("SELECT tenant_id, id FROM app_personalisation_jobs_due(:n)"), {"n": BATCH}
            )
        ).all()
    done = 0
    for tenant_id, job_id in due:
        try:
            async with unit_of_work(Db(sessionmaker)) as db:
                await db.set_tenant(tenant_id)
                state = await carry_out(db, job_id)
                if state is None:
                    db.discard()  # another worker holds it, or it is done
                    continue
                done += 1
            log.info("personalisation job %s: %s", job_id, state)
        except Exception:
            # one job's failure must not stop the others; rolled back, it stays queued
            log.exception("personalisation job %s: not carried out; it stays queued", job_id)
    return done
