"""Pooled connections never carry a tenant from one request into the next.

Invariants:
- two tenants' requests interleaved at a concurrency well above the pool size, a few
  thousand of them, each see exactly their own tenant's rows, never one of the other's;
- an ID of the other tenant is NOT_FOUND, as if it never existed;
- once the requests are done, no pooled connection has a tenant set.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
from sqlalchemy import text

from core.ids import encode_id
from microspace.app import create_app
from tests.factories import make_spaces

POOL = 4
CONCURRENCY = int(__import__("os").environ.get("POOL_CONCURRENCY", "12"))
REQUESTS = int(__import__("os").environ.get("POOL_REQUESTS", "2000"))
QUERY = """{ viewer { tenantId }
    spaces(first: 10) { edges { node { id title blocks(first: 5) { edges { node { id } } } } } } }"""
OTHER = "query($other: ID!) { viewer { tenantId } node(id: $other) { id } }"


async def test_interleaved_tenants_never_see_each_other(settings, new_tenant, owner_url):
    # given two tenants with their own spaces, and a pool far smaller than the concurrency
    tenants = [await new_tenant("Pool A"), await new_tenant("Pool B")]
    spaces = {}
    for t in tenants:
        ids = await make_spaces(
            owner_url, t.tenant_id, 3, blocks_each=2, title=f"only-{t.tenant_id}"
        )
        spaces[t.tenant_id] = {encode_id("Space", i) for i in ids}
    app = create_app(replace(settings, pool_size=POOL, max_overflow=0))
    failures: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            me, other = tenants[i % 2], tenants[(i + 1) % 2]
            other_id = next(iter(spaces[other.tenant_id]))
            auth = {"Authorization": f"Bearer {me.token}"}
            if i % 5 == 4:
                # the other tenant's ID: NOT_FOUND, exactly like an ID that never existed
                response = await client.post(
                    "/graphql",
                    json={"query": OTHER, "variables": {"other": other_id}},
                    headers=auth,
                )
                codes = [e["extensions"]["code"] for e in response.json().get("errors", [])]
                if (
                    response.status_code != 200
                    # `node` is nullable: null at its path, the sibling `viewer` survives
                    or response.json()["data"]["node"] is not None
                    or response.json()["data"]["viewer"]["tenantId"]
                    != encode_id("Tenant", me.tenant_id)
                    or codes != ["NOT_FOUND"]
                ):
                    failures.append(f"request {i}: {response.status_code} {response.text[:300]}")
                continue
            response = await client.post("/graphql", json={"query": QUERY}, headers=auth)
            body = response.json()
            data = body.get("data") or {}
            nodes = [e["node"] for e in (data.get("spaces") or {}).get("edges", [])]
            codes = [e["extensions"]["code"] for e in body.get("errors", [])]
            if (
                response.status_code != 200
                or data["viewer"]["tenantId"] != encode_id("Tenant", me.tenant_id)
                or {n["id"] for n in nodes} != spaces[me.tenant_id]
                or any(n["title"] != f"only-{me.tenant_id}" for n in nodes)
                or any(len(n["blocks"]["edges"]) != 2 for n in nodes)
                or codes
            ):
                failures.append(f"request {i}: {response.status_code} {response.text[:300]}")

    # when thousands of requests of both tenants interleave
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
        # then every response held its own tenant's rows and nothing else
        assert failures == [], failures[:5]
        assert queue.empty()
        # and no pooled connection is left with a tenant set
        engine = app.state.microspace.engine
        conns = [await engine.connect() for _ in range(POOL)]
        try:
            for conn in conns:
                assert await conn.scalar(text("SELECT current_setting('app.tenant_id', true)")) in (
                    "",
                    None,
                )
        finally:
            for conn in conns:
                await conn.close()
    finally:
        await app.state.microspace.engine.dispose()
    print(
        f"{REQUESTS} requests at concurrency {CONCURRENCY} over {POOL} connections: {elapsed:.1f} s"
    )
