"""Work that falls due in every tenant (schedules, personalisation jobs), carried out by the
worker on every pass.

A SECURITY DEFINER function lists the keys of what is due across tenants; each item is then
carried out in a transaction of its own tenant, under row-level security, which claims it,
does it and marks it done, or changes nothing (another worker holds it, or it is done).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Db, unit_of_work

CarryOut = Callable[[Db, uuid.UUID], Awaitable[Any]]


async def run_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    listing: str,
    batch: int,
    carry_out: CarryOut,
    log: logging.Logger,
    what: str,
) -> int:
    """Carry out what `listing(n)` (tenant_id, id) names; how many this worker carried out."""
    async with sessionmaker() as session:
        due = (
            await session.execute(text(f"SELECT tenant_id, id FROM {listing}(:n)"), {"n": batch})
        ).all()
    done = 0
    for tenant_id, item_id in due:
        try:
            async with unit_of_work(Db(sessionmaker)) as db:
                await db.set_tenant(tenant_id)
                outcome = await carry_out(db, item_id)
                if outcome is None:
                    db.discard()  # another worker holds it, or it is done
                    continue
                done += 1
            log.info("%s %s: %s", what, item_id, outcome)
        except Exception:
            # one item's failure must not stop the others; rolled back, it stays due
            log.exception("%s %s: not carried out; it stays due", what, item_id)
    return done
