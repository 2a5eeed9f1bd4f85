"""Timeouts: a slow statement is cancelled, and the worker carries on.

Invariants:
- a statement past `statement_timeout` is cancelled by PostgreSQL and the client gets
  STATEMENT_TIMEOUT with the limit; the request's transaction is rolled back;
- a request past the execution timeout gets EXECUTION_TIMEOUT (HTTP 503) with the limit;
- afterwards the same app (one pooled connection) answers the next requests normally,
  with no statement of the timed-out request still running.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import text

import schema.connection
from microspace.app import create_app
from tests.factories import make_spaces

LIST = "{ spaces { totalCount edges { node { title } } } }"


@pytest.fixture
async def slow_app(settings) -> AsyncIterator:
    # one pooled connection, so "the next request" runs on the connection that timed out
    app = create_app(
        replace(
            settings,
            pool_size=1,
            max_overflow=0,
            statement_timeout=0.3,
            execution_timeout=1.0,
            compiled_reads=False,  # the sleep is planted in a resolver
        )
    )
    yield app
    await app.state.microspace.engine.dispose()


def slow_listing(monkeypatch, seconds: float) -> None:
    original = schema.connection.keyset_page

    async def sleepy(db, *args, **kwargs):
        await db.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return await original(db, *args, **kwargs)

    monkeypatch.setattr(schema.connection, "keyset_page", sleepy)


async def _post(client: httpx.AsyncClient, token: str, query: str = LIST) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )


async def test_statement_past_timeout_is_cancelled_and_next_request_succeeds(
    slow_app, new_tenant, owner_url, monkeypatch
):
    tenant = await new_tenant()
    await make_spaces(owner_url, tenant.tenant_id, 2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=slow_app), base_url="http://t"
    ) as client:
        # given a listing whose first statement sleeps past the 0.3 s statement timeout
        slow_listing(monkeypatch, 3)
        started = time.perf_counter()
        # when
        response = await _post(client, tenant.token)
        # then PostgreSQL cancelled it, well before the sleep would have ended
        assert time.perf_counter() - started < 1.5
        assert response.status_code == 200
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "STATEMENT_TIMEOUT", "limit": 0.3}
        assert "pg_sleep" not in response.text
        monkeypatch.undo()
        # and the next requests, on the same single connection, succeed
        for _ in range(3):
            ok = await _post(client, tenant.token)
            assert ok.status_code == 200 and ok.json()["data"]["spaces"]["totalCount"] == 2


async def test_execution_past_timeout_is_cancelled_and_next_request_succeeds(
    settings, new_tenant, owner_url, monkeypatch
):
    tenant = await new_tenant()
    await make_spaces(owner_url, tenant.tenant_id, 1)
    app = create_app(
        replace(
            settings,
            pool_size=1,
            max_overflow=0,
            statement_timeout=5.0,
            execution_timeout=0.5,
            compiled_reads=False,
        )
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            slow_listing(monkeypatch, 3)
            started = time.perf_counter()
            response = await _post(client, tenant.token)
            assert time.perf_counter() - started < 2.0
            assert response.status_code == 503
            assert response.json()["errors"][0]["extensions"] == {
                "code": "EXECUTION_TIMEOUT",
                "limit": 0.5,
            }
            monkeypatch.undo()
            for _ in range(3):
                ok = await _post(client, tenant.token)
                assert ok.status_code == 200, ok.text
                assert ok.json()["data"]["spaces"]["totalCount"] == 1
            # nothing of the cancelled request still runs on the server
            async with app.state.microspace.engine.connect() as conn:
                running = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'"
                    )
                )
            assert running == 0
    finally:
        await app.state.microspace.engine.dispose()


async def test_every_db_of_the_apps_engine_names_its_statement_timeout(settings):
    """A transaction opened apart from a request (an erasure's steps, the worker's units)
    reports a cancelled statement with the limit it ran into, like a request's does."""
    from core.db import Db

    app = create_app(replace(settings, statement_timeout=2.5))
    try:
        db = Db(app.state.microspace.sessionmaker)
        assert db.statement_timeout == 2.5
        assert "2.5 s statement timeout" in str(db._timeout())
    finally:
        await app.state.microspace.engine.dispose()
