"""Scheduled publishing, carried out by the worker on every pass (store/schedules.py).

Tenancy as for the outbox: `app_schedules_due()` (migration 0038) lists the keys of due
schedules of every tenant; each is carried out in a transaction of its own tenant, under
row-level security, which claims it, publishes and marks it done, or changes nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Db, unit_of_work
from store.schedules import carry_out

log = logging.getLogger("microspace.jobs.schedules")
BATCH = 100


async def run_schedules(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Carry out the schedules due now; how many this worker carried out."""
    async with sessionmaker() as session:
        due = (
            await session.execute(
                text("SELECT tenant_id, id FROM app_schedules_due(:n)"), {"n": BATCH}
            )
        ).all()
    done = 0
    for tenant_id, schedule_id in due:
        try:
            async with unit_of_work(Db(sessionmaker)) as db:
                await db.set_tenant(tenant_id)
                outcome = await carry_out(db, schedule_id)
                if outcome is None:
                    db.discard()  # another worker holds it, or it is done
                    continue
                done += 1
            log.info("schedule %s: %s", schedule_id, outcome)
        except Exception:
            # one schedule's failure must not stop the others; rolled back, it stays due
            log.exception("schedule %s: not carried out; it stays pending", schedule_id)
    return done
