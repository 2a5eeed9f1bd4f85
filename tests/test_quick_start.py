"""The quick start is quiet and keeps its demo token.

Invariants guarded here (`serve --demo --dev`, in a new interpreter as an operator runs it):
- development mode logs for a person (no JSON line), and the GraphiQL URL and the demo owner
  token are the last lines printed once the server listens;
- the demo token is kept beside the data directory, readable by its owner only, and a second
  start prints the same token and mints none; a token no longer live is replaced.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from microspace.commands.tenants import DEMO_TENANT_ID, seed_demo
from tests.ports import free_port
from tests.test_cli import ROOT, _cli_env

LIVE_DEMO_TOKENS = text(
    "SELECT count(*) FROM api_tokens WHERE tenant_id = :t AND revoked_at IS NULL "
    "AND (expires_at IS NULL OR expires_at > now())"
)


def start(env: dict[str, str], port: int) -> tuple[list[str], str]:
    """Serve until the banner is printed; stop; every line printed before it, and the token."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "serve", "--demo", "--dev", "--no-migrate"]
        + ["--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not printed or not printed[-1].startswith("Try: curl"):
            printed.append(lines.get(timeout=max(0.1, deadline - time.monotonic())).rstrip("\n"))
        # nothing else is printed while the server waits for requests
        time.sleep(0.5)
        assert lines.empty(), lines.get()
        token = next(x for x in printed if x.startswith("Demo owner token:")).split()[-1]
        viewer = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ viewer { email } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert viewer.json() == {"data": {"viewer": {"email": "owner@demo.example"}}}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return printed, token


async def test_two_starts_print_the_same_demo_token_last(database_url, tmp_path: Path):
    data = tmp_path / "data"
    env = _cli_env(database_url, {"MICROSPACE_DATA_DIR": str(data / "postgres")})
    env.pop("MICROSPACE_LOG_FORMAT", None)
    env["PYTHONUNBUFFERED"] = "1"
    engine = create_async_engine(database_url)
    try:
        # given a first start
        first, token = start(env, free_port())
        async with engine.connect() as conn:
            live = await conn.scalar(LIVE_DEMO_TOKENS, {"t": DEMO_TENANT_ID})

        # then it logged for a terminal and printed the URL and the token last, once listening
        assert not [x for x in first if x.startswith("{")], first
        running = next(i for i, x in enumerate(first) if "Uvicorn running on" in x)
        graphiql = next(i for i, x in enumerate(first) if x.startswith("GraphiQL:"))
        assert running < graphiql, first
        kept = data / "demo-token"
        assert kept.read_text().strip() == token
        assert kept.stat().st_mode & 0o777 == 0o600

        # when it starts again
        second, again = start(env, free_port())
        assert not [x for x in second if x.startswith("{")], second

        # then it printed the same token and minted none
        assert again == token
        async with engine.connect() as conn:
            assert await conn.scalar(LIVE_DEMO_TOKENS, {"t": DEMO_TENANT_ID}) == live

        # and a token no longer live is replaced, not reused
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = :t"),
                {"t": DEMO_TENANT_ID},
            )
        replaced = await seed_demo(database_url, kept=token)
        assert replaced.token != token
    finally:
        await engine.dispose()
