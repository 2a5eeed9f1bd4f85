"""Scheduled publishing, carried out by the worker on every pass (store/schedules.py):
`app_schedules_due()` (migration 0038) lists the due schedules of every tenant
(microspace/jobs/due.py)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from microspace.jobs.due import run_due
from store.schedules import carry_out

log = logging.getLogger("microspace.jobs.schedules")
BATCH = 100


async def run_schedules(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Carry out the schedules due now; how many this worker carried out."""
    return await run_due(
        sessionmaker, "app_schedules_due", "space_schedules", BATCH, carry_out, log, "schedule"
    )
