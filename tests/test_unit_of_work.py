"""The unit of work (core/db.py `unit_of_work`) is the one place a transaction ends.

Invariants guarded here, on a real table:
- a block that completes is committed;
- a block that raises, or that called `db.discard()`, leaves nothing behind, and the
  exception still reaches the caller;
- a block cut short by a timeout is abandoned (nothing kept) and its session closed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import Db, sessionmaker_for, unit_of_work


@pytest.fixture
async def probe(owner_engine: AsyncEngine) -> AsyncIterator[str]:
    table = f"uow_probe_{uuid.uuid4().hex[:8]}"
    async with owner_engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (n int)"))
    yield table
    async with owner_engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE {table}"))


async def _rows(engine: AsyncEngine, table: str) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.scalars(text(f"SELECT n FROM {table} ORDER BY n"))).all())


def _insert(table: str, n: int) -> TextClause:
    return text(f"INSERT INTO {table} VALUES ({n})")


async def test_a_completed_block_is_committed(owner_engine, probe):
    async with unit_of_work(Db(sessionmaker_for(owner_engine))) as db:
        await db.execute(_insert(probe, 1))
    assert await _rows(owner_engine, probe) == [1]


async def test_a_failed_or_discarded_block_leaves_nothing(owner_engine, probe):
    with pytest.raises(ValueError, match="boom"):
        async with unit_of_work(Db(sessionmaker_for(owner_engine))) as db:
            await db.execute(_insert(probe, 1))
            raise ValueError("boom")
    async with unit_of_work(Db(sessionmaker_for(owner_engine))) as db:
        await db.execute(_insert(probe, 2))
        db.discard()
    assert await _rows(owner_engine, probe) == []


async def test_a_timed_out_block_is_abandoned_and_closed(owner_engine, probe):
    db = Db(sessionmaker_for(owner_engine))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2), unit_of_work(db):
            await db.execute(_insert(probe, 1))
            # worded apart from tests/test_timeouts.py's server-wide look for `SELECT pg_sleep`
            await db.execute(text(f"SELECT 1 AS {probe} FROM pg_sleep(5)"))
    assert db._session is None  # closed: its connection went back to the pool or was dropped
    assert await _rows(owner_engine, probe) == []
    async with owner_engine.connect() as conn:
        running = await conn.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE :q"),
            {"q": f"SELECT 1 AS {probe}%"},
        )
    assert running == 0  # the abandoned statement does not run on in the server
