"""Apollo Client 4 with its persisted-queries link, against the running API (real protocol
messages, over real HTTP).

Invariants:
- the first client sends the hash alone, gets PERSISTED_QUERY_NOT_FOUND, retries with the
  text, and gets the data; a second client then gets the data by the hash alone;
- the same over GET (`useGETForHashedQueries`);
- a widget key's untrusted document ends in PERSISTED_QUERY_REQUIRED, with no retry loop;
- a document over the automatic cap still runs for every client: the hash alone is never
  found, the text answers with data and a warning (no error), and Apollo takes the data.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from microspace.app import create_app
from tests.factories import make_spaces, mint_key
from tests.ports import serve

HERE = Path(__file__).with_name("apollo")


@pytest.fixture(scope="module")
def apollo() -> Path:
    """The npm packages of tests/apollo (installed from the registry when missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(
            "Node.js and npm are needed for the Apollo Client test: apt-get install nodejs npm"
        )
    if not (HERE / "node_modules" / "@apollo" / "client").exists():
        import subprocess

        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return HERE / "apq.mjs"


@pytest.fixture
async def server(app) -> AsyncIterator[str]:
    running, task, port = await serve(app)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        running.should_exit = True
        await task


async def _run(script: Path, url: str, token: str, mode: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        url,
        token,
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=script.parent,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


def _code(exchange: dict) -> str | None:
    errors = exchange["response"].get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


@pytest.mark.parametrize("mode", ["post", "get"])
async def test_apollo_automatic_persisted_queries(apollo, server, new_tenant, owner_url, mode):
    t = await new_tenant("Apollo")
    await make_spaces(owner_url, t.tenant_id, 2, title="Shared")
    run = await _run(apollo, server, t.token, mode)
    first, retry, second = run["exchanges"]

    # the first client: the hash alone, PersistedQueryNotFound, then the text
    assert first["method"] == ("GET" if mode == "get" else "POST")
    hashed = first["request"] if mode == "post" else None
    if hashed is not None:
        assert "query" not in hashed
        assert hashed["extensions"]["persistedQuery"]["version"] == 1
    else:
        assert "extensions=" in first["url"] and "query=" not in first["url"]
    assert _code(first) == "PERSISTED_QUERY_NOT_FOUND"
    assert retry["method"] == "POST" and "query" in retry["request"]
    assert "persistedQuery" in retry["request"]["extensions"]
    assert _code(retry) is None
    # the second client: the hash alone is enough now
    assert _code(second) is None
    if mode == "post":
        assert "query" not in second["request"]
    else:
        assert second["method"] == "GET" and "query=" not in second["url"]
    for outcome in run["outcomes"]:
        assert outcome["error"] is None
        assert len(outcome["data"]["spaces"]["edges"]) == 2


async def test_apollo_with_a_widget_key_cannot_register_documents(
    apollo, server, api, new_tenant, owner_url
):
    t = await new_tenant("Apollo")
    key = await mint_key(api(t.token), "widget", [], spaceIds=[], allowedOrigins=[])
    run = await _run(apollo, server, key, "post")
    assert [_code(e) for e in run["exchanges"]] == ["PERSISTED_QUERY_REQUIRED"] * 2
    assert all(
        "PERSISTED_QUERY_REQUIRED" in o["error"] or "trusted" in o["error"] for o in run["outcomes"]
    )


async def test_apollo_with_a_document_too_large_to_persist(apollo, settings, new_tenant, owner_url):
    capped = create_app(replace(settings, apq_max_document_chars=20))
    running, task, port = await serve(capped)
    try:
        t = await new_tenant("Apollo")
        await make_spaces(owner_url, t.tenant_id, 2, title="Shared")
        run = await _run(apollo, f"http://127.0.0.1:{port}/graphql", t.token, "post")
    finally:
        running.should_exit = True
        await task
        await capped.state.microspace.engine.dispose()
    # not stored, so each client's hash is unknown and its text runs
    assert [_code(e) for e in run["exchanges"]] == ["PERSISTED_QUERY_NOT_FOUND", None] * 2
    for retry in run["exchanges"][1::2]:
        [warning] = retry["response"]["extensions"]["warnings"]
        assert warning["extensions"]["code"] == "PERSISTED_QUERY_TOO_LARGE"
    for outcome in run["outcomes"]:
        assert outcome["error"] is None
        assert len(outcome["data"]["spaces"]["edges"]) == 2
