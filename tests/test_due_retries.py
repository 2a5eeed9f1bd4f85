"""What falls due and fails waits before it is tried again (microspace/jobs/due.py,
migration 0063).

Invariants:
- an item whose carrying out raises is rolled back and stays due, with its failure counted
  on its row; it is not listed again until its wait is over, a wait that doubles with each
  failure up to an hour;
- a failing item does not keep the items listed after it from their turn;
- once its wait is over it is tried again, and carried out when it no longer fails.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import Db, make_engine, sessionmaker_for
from microspace.jobs.due import FIRST_WAIT, LONGEST_WAIT, run_due
from store.schedules import carry_out
from tests.factories import make_spaces

log = logging.getLogger("tests.due_retries")
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # listed before any other test's schedule


@pytest.fixture
async def worker(
    settings: Any, owner_engine: AsyncEngine
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.app_url(), pool_size=2, max_overflow=0)
    yield sessionmaker_for(engine)
    await engine.dispose()
    # what a test leaves due would be carried out by a later test's worker
    async with owner_engine.begin() as conn:
        for table in ("space_schedules", "personalisation_jobs"):
            await conn.execute(text(f"DELETE FROM {table} WHERE attempts > 0"))


async def _insert(engine: AsyncEngine, statement: str, values: dict[str, Any]) -> uuid.UUID:
    """A row written as the owner (a superuser here: no row-level security); its new id."""
    made = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(text(statement), {**values, "id": made})
    return made


async def _schedule(engine: AsyncEngine, tenant: Any, space: uuid.UUID, at: datetime) -> uuid.UUID:
    return await _insert(
        engine,
        "INSERT INTO space_schedules (tenant_id, id, space_id, action, run_at, "
        "created_by_kind, created_by) VALUES (:t, :id, :s, 'publish', :at, 'member', :m)",
        {"t": tenant.tenant_id, "s": space, "at": at, "m": tenant.member_id},
    )


async def _row(engine: AsyncEngine, schedule: uuid.UUID) -> tuple[int, float | None, bool]:
    """(attempts, seconds until its retry, done)."""
    async with engine.connect() as conn:
        attempts, wait, done = (
            await conn.execute(
                text(
                    "SELECT attempts, extract(epoch FROM retry_at - now()), done_at IS NOT NULL "
                    "FROM space_schedules WHERE id = :id"
                ),
                {"id": schedule},
            )
        ).one()
    return attempts, None if wait is None else float(wait), done


async def _retry_now(engine: AsyncEngine, schedule: uuid.UUID) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE space_schedules SET retry_at = now() WHERE id = :id"), {"id": schedule}
        )


def _failing(ids: set[uuid.UUID], tried: list[uuid.UUID]) -> Any:
    """Carries out the schedules of `ids` by raising; any other is left alone (another
    test's: as if another worker held it)."""

    async def carry(db: Db, item: uuid.UUID) -> Any:
        if item not in ids:
            return None
        tried.append(item)
        raise RuntimeError("the publish failed")

    return carry


async def test_a_failing_schedule_waits_longer_after_each_failure(
    worker: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    new_tenant: Any,
    owner_url: Any,
) -> None:
    tenant = await new_tenant("Retries")
    (space,) = await make_spaces(owner_url, tenant.tenant_id, 1, blocks_each=1)
    schedule = await _schedule(owner_engine, tenant, space, LONG_AGO)
    tried: list[uuid.UUID] = []
    fail = _failing({schedule}, tried)

    assert await run_due(worker, "app_schedules_due", "space_schedules", 100, fail, log, "s") == 0
    attempts, wait, done = await _row(owner_engine, schedule)
    assert (attempts, done) == (1, False) and wait is not None
    assert FIRST_WAIT - 5 < wait <= FIRST_WAIT
    # waiting: not listed, not tried
    await run_due(worker, "app_schedules_due", "space_schedules", 100, fail, log, "s")
    assert tried == [schedule]

    await _retry_now(owner_engine, schedule)
    await run_due(worker, "app_schedules_due", "space_schedules", 100, fail, log, "s")
    attempts, wait, _ = await _row(owner_engine, schedule)
    assert tried == [schedule, schedule] and attempts == 2
    assert wait is not None and 2 * FIRST_WAIT - 5 < wait <= 2 * FIRST_WAIT

    # however many failures, an hour at most
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE space_schedules SET attempts = 1000, retry_at = now() WHERE id = :id"),
            {"id": schedule},
        )
    await run_due(worker, "app_schedules_due", "space_schedules", 100, fail, log, "s")
    attempts, wait, _ = await _row(owner_engine, schedule)
    assert attempts == 1001 and wait is not None and LONGEST_WAIT - 5 < wait <= LONGEST_WAIT

    # once it no longer fails, its next try carries it out
    await _retry_now(owner_engine, schedule)
    assert (
        await run_due(worker, "app_schedules_due", "space_schedules", 1, carry_out, log, "s") == 1
    )
    assert (await _row(owner_engine, schedule))[2] is True


async def test_a_failing_schedule_leaves_the_next_one_its_turn(
    worker: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    new_tenant: Any,
    owner_url: Any,
) -> None:
    tenant = await new_tenant("Turns")
    first, second = await make_spaces(owner_url, tenant.tenant_id, 2, blocks_each=1)
    failing = await _schedule(owner_engine, tenant, first, LONG_AGO)
    waiting = await _schedule(owner_engine, tenant, second, LONG_AGO + timedelta(days=1))
    tried: list[uuid.UUID] = []
    fail = _failing({failing}, tried)

    async def carry(db: Db, item: uuid.UUID) -> Any:
        if item == failing:
            return await fail(db, item)
        return await carry_out(db, item) if item == waiting else None

    # one item a pass: the failing one first, then, while it waits, the next
    assert await run_due(worker, "app_schedules_due", "space_schedules", 1, carry, log, "s") == 0
    assert await run_due(worker, "app_schedules_due", "space_schedules", 1, carry, log, "s") == 1
    assert tried == [failing]
    assert (await _row(owner_engine, waiting))[2] is True
    assert (await _row(owner_engine, failing))[:1] == (1,)


async def test_a_failing_personalisation_job_waits_too(
    worker: async_sessionmaker[AsyncSession], owner_engine: AsyncEngine, new_tenant: Any
) -> None:
    tenant = await new_tenant("JobRetries")
    job = await _insert(
        owner_engine,
        "INSERT INTO personalisation_jobs (tenant_id, id, requested, created_at) "
        "VALUES (:t, :id, 0, :at)",
        {"t": tenant.tenant_id, "at": LONG_AGO},
    )
    tried: list[uuid.UUID] = []
    fail = _failing({job}, tried)
    listing, table = "app_personalisation_jobs_due", "personalisation_jobs"
    await run_due(worker, listing, table, 100, fail, log, "job")
    await run_due(worker, listing, table, 100, fail, log, "job")
    assert tried == [job]
    async with owner_engine.connect() as conn:
        attempts, state = (
            await conn.execute(
                text("SELECT attempts, state FROM personalisation_jobs WHERE id = :id"), {"id": job}
            )
        ).one()
    assert (attempts, state) == (1, "queued")
