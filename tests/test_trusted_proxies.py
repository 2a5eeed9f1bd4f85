"""`X-Forwarded-For` is believed only from the proxies MICROSPACE_TRUSTED_PROXIES names.

Invariants guarded here, through a real uvicorn server run as `serve` runs it:
- by default no forwarded header is believed, not even from loopback: the sign-in record
  holds the connection's own network;
- from a configured proxy, the forwarded client's network is recorded;
- a malformed entry stops `serve` with one clear error.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import replace

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from microspace.app import create_app
from microspace.commands.serve import OperatorError, serve_settings, uvicorn_options

FORWARDED = "203.0.113.9"


async def _network_recorded(settings, owner_url, tenant) -> str | None:
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(settings)))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/graphql"
        async with httpx.AsyncClient() as client:
            r = await client.post(
                url,
                json={"query": "{ viewer { kind } }"},
                headers={"Authorization": f"Bearer {tenant.token}", "X-Forwarded-For": FORWARDED},
            )
        assert r.status_code == 200, r.text
    finally:
        server.should_exit = True
        await serving
        await app.state.microspace.engine.dispose()
    engine = create_async_engine(owner_url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(
                text("SELECT network FROM sign_ins WHERE tenant_id = :t"),
                {"t": uuid.UUID(str(tenant.tenant_id))},
            )
    finally:
        await engine.dispose()


async def test_forwarded_for_from_loopback_is_ignored_by_default(settings, owner_url, new_tenant):
    tenant = await new_tenant()
    network = await _network_recorded(replace(settings, trusted_proxies=""), owner_url, tenant)
    assert network == "127.0.0.0/24"


async def test_forwarded_for_from_a_trusted_proxy_is_recorded(settings, owner_url, new_tenant):
    tenant = await new_tenant()
    trusted = replace(settings, trusted_proxies="127.0.0.1")
    assert await _network_recorded(trusted, owner_url, tenant) == "203.0.113.0/24"


def test_a_malformed_proxy_entry_stops_serve(settings):
    bad = replace(settings, trusted_proxies="127.0.0.1, not-an-address")
    with pytest.raises(OperatorError, match="not-an-address"):
        serve_settings(bad, embedded=True, host="127.0.0.1", dev=True)
