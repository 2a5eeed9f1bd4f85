"""One tenant's load never stalls another, and every request's life is bounded.

Invariants:
- a flood of writers of tenant A, all blocked on one locked row, leaves tenant B's probe
  answering in under a second: no tenant holds more than its share of the pool;
- the execution timeout covers the wait for a pooled connection: a request that cannot get
  one in time gets HTTP 503 EXECUTION_TIMEOUT with Retry-After, not a late answer;
- a tenant past its queue is refused at once with HTTP 503 OVERLOADED and Retry-After,
  and nothing of that request ran.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
from sqlalchemy import text

from core.ids import decode_id
from microspace.app import create_app
from tests.factories import make_space

PROBE = "{ viewer { kind } spaces(first: 1) { totalCount } }"
ADD = """mutation($s: ID!) { blockAdd(input: {spaceId: $s, kind: HEADING, body: {text: "x"}}) {
    block { id } } }"""


async def _locked_space(owner_engine, tenant, space_id):
    """An owner transaction holding the space's row lock; the caller rolls it back."""
    conn = await owner_engine.connect()
    await conn.begin()
    await conn.execute(
        text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
    )
    await conn.execute(
        text("SELECT 1 FROM spaces WHERE id = :s FOR UPDATE"), {"s": decode_id(space_id, "Space")}
    )
    return conn


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60
    )


async def test_blocked_writers_of_one_tenant_leave_another_answering(
    settings, new_tenant, owner_url, owner_engine
):
    # given: tenant A's space is locked, so each of A's writes waits on it
    a, b = await new_tenant("Flood A"), await new_tenant("Probe B")
    space_id, _ = await make_space(owner_url, a.tenant_id)
    app = create_app(
        replace(settings, pool_size=10, max_overflow=5, statement_timeout=5.0, execution_timeout=10)
    )
    conn = await _locked_space(owner_engine, a, space_id)
    try:
        async with _client(app) as client:
            # when: 120 writers of A pile up, and B probes meanwhile
            flood = [
                asyncio.ensure_future(
                    client.post(
                        "/graphql",
                        json={"query": ADD, "variables": {"s": space_id}},
                        headers={"Authorization": f"Bearer {a.token}"},
                    )
                )
                for _ in range(120)
            ]
            await asyncio.sleep(1.0)
            latencies = []
            for _ in range(3):
                started = time.perf_counter()
                probe = await client.post(
                    "/graphql",
                    json={"query": PROBE},
                    headers={"Authorization": f"Bearer {b.token}"},
                )
                latencies.append(time.perf_counter() - started)
                assert probe.status_code == 200, probe.text
                assert probe.json()["data"]["viewer"]["kind"] == "member"
            await conn.rollback()
            responses = await asyncio.gather(*flood)
    finally:
        await conn.close()
        await app.state.microspace.engine.dispose()

    # then: B answered while A's writers were still blocked (behind them, each probe would
    # have waited out A's 5 s statement timeout; the bound leaves room for a loaded machine
    # serving 120 requests at once); every one of A's requests got a clear answer, never a 500
    assert max(latencies) < 2.5, latencies
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"]
            code = response.json()["errors"][0]["extensions"]["code"]
            assert code in {"OVERLOADED", "EXECUTION_TIMEOUT"}, response.text
        else:
            assert response.status_code == 200, response.text


async def test_the_wait_for_a_pooled_connection_counts_against_the_timeout(settings, new_tenant):
    # given: a pool of one connection, held elsewhere
    b = await new_tenant("Wait B")
    app = create_app(
        replace(settings, pool_size=1, max_overflow=0, statement_timeout=5.0, execution_timeout=1)
    )
    try:
        async with _client(app) as client, app.state.microspace.engine.connect():
            # when: a request needs a connection
            started = time.perf_counter()
            waited = await client.post(
                "/graphql", json={"query": PROBE}, headers={"Authorization": f"Bearer {b.token}"}
            )
            elapsed = time.perf_counter() - started
    finally:
        await app.state.microspace.engine.dispose()

    # then: refused within the execution timeout, clearly, and retryable
    assert elapsed < 1.5, elapsed
    assert waited.status_code == 503, waited.text
    assert waited.json()["errors"][0]["extensions"]["code"] == "EXECUTION_TIMEOUT"
    assert waited.headers["retry-after"] == "1"


async def test_a_tenant_past_its_queue_is_refused_at_once(
    settings, new_tenant, owner_url, owner_engine
):
    a = await new_tenant("Queue A")
    space_id, _ = await make_space(owner_url, a.tenant_id)
    app = create_app(
        replace(
            settings,
            tenant_max_concurrency=2,
            tenant_max_queue=3,
            statement_timeout=5.0,
            execution_timeout=10,
        )
    )
    conn = await _locked_space(owner_engine, a, space_id)
    auth = {"Authorization": f"Bearer {a.token}"}
    try:
        async with _client(app) as client:
            # the first request teaches the admission which tenant the token belongs to
            assert (
                await client.post("/graphql", json={"query": PROBE}, headers=auth)
            ).status_code == 200
            body = {"query": ADD, "variables": {"s": space_id}}
            flood = [
                asyncio.ensure_future(client.post("/graphql", json=body, headers=auth))
                for _ in range(5)
            ]
            await asyncio.sleep(0.5)
            started = time.perf_counter()
            refused = await client.post("/graphql", json=body, headers=auth)
            elapsed = time.perf_counter() - started
            await conn.rollback()
            answered = await asyncio.gather(*flood)
    finally:
        await conn.close()
        await app.state.microspace.engine.dispose()

    assert elapsed < 0.5, elapsed
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["errors"][0]["extensions"] == {"code": "OVERLOADED", "limit": 2}
    assert [r.status_code for r in answered] == [200] * 5
