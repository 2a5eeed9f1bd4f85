"""Apollo Client (the npm package, in Node) against the live API.

Invariants guarded here, as a client library sees them:
- a missing object is `null` with NOT_FOUND at its own path, and the sibling `viewer`
  survives (Apollo's `errorPolicy: "all"` keeps both);
- walking `last`/`before` pages yields the whole list in order;
- `orderBy` orders by title both ways, and the default is newest first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from core.ids import encode_id
from tests.factories import make_spaces
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "tests" / "js" / "apollo"
TITLES = ["delta", "alpha", "echo", "charlie", "bravo"]


def _install() -> None:
    if not (CLIENT / "node_modules" / "@apollo" / "client").exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"], cwd=CLIENT, check=True, timeout=300
        )


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run_client(base: str, token: str, missing: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    done = subprocess.run(
        ["node", "check.mjs", f"{base}/graphql", token, missing],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


async def test_apollo_client_reads_lookups_pages_and_orders(settings, new_tenant, owner_url):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(
            "Node.js and npm are needed for the Apollo Client test: apt-get install nodejs npm"
        )
    import asyncio

    await asyncio.to_thread(_install)
    tenant = await new_tenant()
    for title in TITLES:  # one transaction each: distinct creation times
        await make_spaces(owner_url, tenant.tenant_id, 1, title=title)
    missing = encode_id("Space", uuid.uuid4())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSPACE_")}
    # development mode on a loopback address: GraphiQL on, no production key needed
    env.update(
        DATABASE_URL=settings.database_url, MICROSPACE_LOG_LEVEL="WARNING", MICROSPACE_DEV="true"
    )
    port = free_port()
    proc = _serve(env, port)
    try:
        seen = await asyncio.to_thread(
            _run_client, f"http://127.0.0.1:{port}", tenant.token, missing
        )
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    lookup = seen["lookup"]
    assert isinstance(lookup, dict)
    viewer = {"kind": "member", "__typename": "Viewer"}  # Apollo asks for __typename
    assert lookup["data"] == {"viewer": viewer, "space": None, "node": None}
    assert sorted(lookup["errors"], key=str) == [
        {"path": ["node"], "code": "NOT_FOUND"},
        {"path": ["space"], "code": "NOT_FOUND"},
    ]
    assert seen["newestFirst"] == list(reversed(TITLES))
    assert seen["byTitle"] == sorted(TITLES)
    assert seen["byTitleDesc"] == sorted(TITLES, reverse=True)
