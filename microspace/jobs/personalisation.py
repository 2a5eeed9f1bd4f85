"""Personalisation jobs, carried out by the worker on every pass (store/templates.py):
`app_personalisation_jobs_due()` (migration 0044) lists the queued jobs of every tenant
(microspace/jobs/due.py)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from microspace.jobs.due import run_due
from store.templates import carry_out

log = logging.getLogger("microspace.jobs.personalisation")
BATCH = 20


async def run_personalisations(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Carry out the queued personalisation jobs; how many this worker carried out."""
    return await run_due(
        sessionmaker,
        "app_personalisation_jobs_due",
        "personalisation_jobs",
        BATCH,
        carry_out,
        log,
        "personalisation job",
    )
