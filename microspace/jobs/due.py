"""Work that falls due in every tenant (schedules, personalisation jobs), carried out by the
worker on every pass.

A SECURITY DEFINER function lists the keys of what is due across tenants; each item is then
carried out in a transaction of its own tenant, under row-level security, which claims it,
does it and marks it done, or changes nothing (another worker holds it, or it is done).

An item whose carrying out raises is rolled back and stays due, but not at once: its row
counts the failure (`attempts`) and is listed again only from `retry_at`, a wait that
doubles with each failure from `FIRST_WAIT` up to `LONGEST_WAIT` (migration 0063). So a
failing item neither floods the log on every pass nor keeps the items listed after it
from their turn; and nothing is given up.
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
FIRST_WAIT = 30  # seconds before the first retry
LONGEST_WAIT = 3600
# the doubling stops once the wait is the longest: `power` stays far from overflowing
FAILED = """UPDATE {table} SET attempts = attempts + 1,
    retry_at = now() + make_interval(secs => least(
        CAST(:longest AS float8), CAST(:first AS float8) * power(2, least(attempts, 30))))
    WHERE tenant_id = :tenant AND id = :id RETURNING attempts, retry_at"""


async def run_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    listing: str,
    table: str,
    batch: int,
    carry_out: CarryOut,
    log: logging.Logger,
    what: str,
) -> int:
    """Carry out what `listing(n)` (tenant_id, id) names, rows of `table`; how many this
    worker carried out."""
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
            retry = await _failed(sessionmaker, table, tenant_id, item_id, log)
            log.exception("%s %s: not carried out; %s", what, item_id, retry)
    return done


async def _failed(
    sessionmaker: async_sessionmaker[AsyncSession],
    table: str,
    tenant_id: uuid.UUID,
    item_id: uuid.UUID,
    log: logging.Logger,
) -> str:
    """The failure counted on the item's row, in a transaction of its own; what happens next."""
    try:
        async with unit_of_work(Db(sessionmaker)) as db:
            await db.set_tenant(tenant_id)
            row = (
                await db.execute(
                    text(FAILED.format(table=table)),
                    {
                        "tenant": tenant_id,
                        "id": item_id,
                        "first": FIRST_WAIT,
                        "longest": LONGEST_WAIT,
                    },
                )
            ).first()
    except Exception:  # the database itself fails: tried again on the next pass
        log.warning("%s %s: its failure could not be counted", table, item_id, exc_info=True)
        return "it stays due"
    if row is None:
        return "it is gone"
    return f"failed {row.attempts} time(s); tried again from {row.retry_at.isoformat()}"
