"""A database outage is an operating condition, not a bug.

Invariants guarded here (against a throwaway PostgreSQL that the test stops and starts):
- while the database is down, every request answers HTTP 503 `SERVICE_UNAVAILABLE` with
  `Retry-After`, and `/readyz` answers 503;
- each such request logs exactly one line, and no traceback;
- when the database is back, the very next request succeeds (dead pooled connections are
  found at checkout and replaced).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from core.devdb import restart_server, start_server, stop_server, url_of
from core.migrate import migrate
from microspace.app import create_app
from microspace.commands.tenants import create_tenant

QUERY = {"query": "{ viewer { kind } spaces { totalCount } }"}
REQUESTS = 6


async def test_outage_answers_503_logs_one_line_and_recovers(settings, caplog):
    # not pytest's tmp_path: its directories are private to root, and PostgreSQL runs as an
    # unprivileged user that must reach its data directory (its stop failed there)
    base = Path(tempfile.mkdtemp(prefix="microspace-outage-"))
    base.chmod(0o755)
    # given an API on its own PostgreSQL, with a pooled connection in use
    server = await asyncio.to_thread(start_server, base / "pg")
    try:
        url = url_of(server)
        await migrate(make_url(url), "microspace_app")
        tenant = await create_tenant(make_url(url), "Outage", "owner@example.com")
        app = create_app(replace(settings, database_url=url))
        auth = {"Authorization": f"Bearer {tenant.token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.post("/graphql", json=QUERY, headers=auth)
            assert ok.status_code == 200 and ok.json()["data"]["viewer"] == {"kind": "member"}

            # when PostgreSQL stops
            await asyncio.to_thread(stop_server, server)
            caplog.clear()
            with caplog.at_level(logging.INFO):
                answers = [
                    await client.post("/graphql", json=QUERY, headers=auth) for _ in range(REQUESTS)
                ]
                ready = await client.get("/readyz")

            # then each request answers 503 with a retry hint
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "5"
                error = answer.json()["errors"][0]
                assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                assert error["extensions"]["requestId"] == answer.headers["x-request-id"]
            assert ready.status_code == 503
            # and logs one line per request, none with a traceback
            ours = [r for r in caplog.records if r.levelno >= logging.WARNING]
            unavailable = [r for r in ours if "database unavailable" in r.getMessage()]
            assert len(unavailable) == REQUESTS, [r.getMessage() for r in ours]
            assert len(ours) == REQUESTS + 1  # and the readiness line
            assert all(r.exc_info is None for r in caplog.records)
            assert "Traceback" not in caplog.text

            # when PostgreSQL is back, the next request succeeds without a restart of the API
            await asyncio.to_thread(restart_server, server)
            back = await client.post("/graphql", json=QUERY, headers=auth)
            assert back.status_code == 200, back.text
            assert back.json()["data"]["spaces"] == {"totalCount": 0}
            assert (await client.get("/readyz")).status_code == 200
        await app.state.microspace.engine.dispose()
    finally:
        await asyncio.to_thread(stop_server, server)
        shutil.rmtree(base, ignore_errors=True)
