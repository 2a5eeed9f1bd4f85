"""Automatic persisted queries are bounded per tenant (audit: 1,500 stored in 28 s).

Invariants, through HTTP on an app with small caps:
- past `apq_max_documents`, registering evicts the tenant's least recently used automatic
  document (not the oldest registered); an evicted hash answers PERSISTED_QUERY_NOT_FOUND,
  so Apollo's client just sends the text again;
- one tenant's churn never evicts another tenant's documents, nor any trusted one (which
  is not counted either);
- a text over `apq_max_document_chars` still runs, with a PERSISTED_QUERY_TOO_LARGE
  warning in the response's `extensions` and no error (an error would make Apollo Client
  drop the data), and is not stored.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from core.config import Settings
from microspace.app import create_app
from tests.conftest import error_codes
from tests.factories import mint_key
from tests.widgets import REGISTER, by_hash, sha256

KEEP = 3
MAX_CHARS = 300


def doc(n: int) -> str:
    return f"query Q{n} {{ spaces(first: 5) {{ edges {{ node {{ id }} }} }} }}"


@pytest.fixture(scope="module")
async def capped_app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(
        replace(settings, apq_max_documents=KEEP, apq_max_document_chars=MAX_CHARS)
    )
    yield application
    await application.state.microspace.engine.dispose()


@pytest.fixture
async def capped(capped_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=capped_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def _send(client: httpx.AsyncClient, token: str, body: dict) -> dict:
    response = await client.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


async def _register(client: httpx.AsyncClient, token: str, document: str) -> None:
    result = await _send(client, token, {"query": document, **by_hash(sha256(document))})
    assert "errors" not in result and "extensions" not in result, result


async def _known(client: httpx.AsyncClient, token: str, document: str) -> bool:
    result = await _send(client, token, by_hash(sha256(document)))
    if error_codes(result) == ["PERSISTED_QUERY_NOT_FOUND"]:
        return False
    assert "errors" not in result, result
    return True


async def _stored(owner_engine: AsyncEngine, tenant_id: uuid.UUID) -> dict[str, bool]:
    """The tenant's stored documents, hash -> trusted (as the owner: superuser, no RLS)."""
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT sha256, trusted FROM persisted_documents WHERE tenant_id = :t"),
            {"t": tenant_id},
        )
        return {r.sha256: r.trusted for r in rows}


async def _age(owner_engine: AsyncEngine, tenant_id: uuid.UUID, minutes: dict[str, int]) -> None:
    """Pretend each document was last used that many minutes ago."""
    async with owner_engine.begin() as conn:
        for document, ago in minutes.items():
            await conn.execute(
                text(
                    "UPDATE persisted_documents SET last_used_at = now() - make_interval(mins => :m)"
                    " WHERE tenant_id = :t AND sha256 = :h"
                ),
                {"m": ago, "t": tenant_id, "h": sha256(document)},
            )


async def test_past_the_cap_the_least_recently_used_is_evicted(capped, new_tenant, owner_engine):
    t = await new_tenant("APQ")
    for n in range(KEEP):
        await _register(capped, t.token, doc(n))
    # registered 0, 1, 2; then 0 runs by hash: 1 is now the least recently used
    await _age(owner_engine, t.tenant_id, {doc(0): 30, doc(1): 20, doc(2): 10})
    assert await _known(capped, t.token, doc(0))

    await _register(capped, t.token, doc(3))
    assert await _stored(owner_engine, t.tenant_id) == {sha256(doc(n)): False for n in (0, 2, 3)}
    assert not await _known(capped, t.token, doc(1))
    # Apollo's fallback: the text again runs it and stores it, evicting the next in line
    await _register(capped, t.token, doc(1))
    assert set(await _stored(owner_engine, t.tenant_id)) == {sha256(doc(n)) for n in (0, 3, 1)}


async def test_churn_never_evicts_another_tenant_or_a_trusted_document(
    capped, api, new_tenant, owner_engine
):
    churner, other = await new_tenant("Churn"), await new_tenant("Other")
    trusted = "query Trusted { spaces(first: 2) { edges { node { id } } } }"
    registered = await _send(
        capped, churner.token, {"query": REGISTER, "variables": {"input": {"document": trusted}}}
    )
    assert registered["data"]["persistedDocumentRegister"]["document"]["trusted"] is True
    for n in range(KEEP):
        await _register(capped, other.token, doc(n))
    # the other tenant's documents are older than anything the churner stores
    await _age(owner_engine, other.tenant_id, {doc(n): 60 for n in range(KEEP)})
    await _age(owner_engine, churner.tenant_id, {trusted: 120})

    for n in range(100, 100 + 4 * KEEP):
        await _register(capped, churner.token, doc(n))

    # the trusted document is kept and not counted: the churner keeps KEEP automatic ones
    stored = await _stored(owner_engine, churner.tenant_id)
    assert stored == {
        sha256(trusted): True,
        **{sha256(doc(n)): False for n in range(100 + 3 * KEEP, 100 + 4 * KEEP)},
    }
    assert await _stored(owner_engine, other.tenant_id) == {
        sha256(doc(n)): False for n in range(KEEP)
    }
    for n in range(KEEP):
        assert await _known(capped, other.token, doc(n))
    widget = await mint_key(api(churner.token), "widget", [], spaceIds=[], allowedOrigins=[])
    ran = await _send(capped, widget, by_hash(sha256(trusted)))
    assert ran["data"]["spaces"]["edges"] == []


async def test_an_oversize_document_runs_but_is_not_stored(capped, new_tenant, owner_engine):
    t = await new_tenant("APQ")
    # the audit's shape: a small query padded with a long comment
    padded = doc(0) + "\n# " + "x" * MAX_CHARS
    digest = sha256(padded)
    assert error_codes(await _send(capped, t.token, by_hash(digest))) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]

    ran = await _send(capped, t.token, {"query": padded, **by_hash(digest)})
    assert ran["data"]["spaces"]["edges"] == [] and "errors" not in ran
    [warning] = ran["extensions"]["warnings"]
    assert warning["extensions"] == {"code": "PERSISTED_QUERY_TOO_LARGE", "limit": MAX_CHARS}
    assert str(MAX_CHARS) in warning["message"]

    assert await _stored(owner_engine, t.tenant_id) == {}
    assert not await _known(capped, t.token, padded)
    # a document at the limit is kept
    at_limit = doc(0) + "\n#" + "x" * (MAX_CHARS - len(doc(0)) - 2)
    assert len(at_limit) == MAX_CHARS
    await _register(capped, t.token, at_limit)
    assert await _known(capped, t.token, at_limit)
