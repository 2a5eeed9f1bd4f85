"""GraphiQL works with no network beyond the API: its assets are the API's own.

Invariants guarded here:
- in development mode, the GraphiQL page names no outside URL, and every asset it loads is
  served by the API; in production mode neither page nor assets are served;
- in headless Chromium, with every request outside the API refused, the page renders the
  GraphiQL editor and its fetcher runs a query against `/graphql`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from microspace.app import create_app
from microspace.web.graphiql import PREFIX
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
HTML = {"Accept": "text/html"}


async def test_page_and_assets_are_served_by_the_api(client):
    page = await client.get("/graphql", headers=HTML)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", page.text)
    assets = re.findall(r"(?:src|href)=\"([^\"]+)\"", page.text)
    assert len(assets) == 4 and all(a.startswith(PREFIX + "/") for a in assets)
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset


async def test_production_serves_neither_page_nor_assets(settings):
    app = create_app(
        replace(
            settings, dev_mode=False, secret_key="x" * 32, public_url="https://api.test.example"
        )
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            assert (await c.get("/graphql", headers=HTML)).status_code == 404
            assert (await c.get(f"{PREFIX}/graphiql.min.js")).status_code == 404
    finally:
        await app.state.microspace.engine.dispose()


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError("the server did not start")


def _browse(base: str, token: str) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    refused: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()

            def only_the_api(route) -> None:  # type: ignore[no-untyped-def]
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            page.route("**/*", only_the_api)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/graphql")
            page.wait_for_selector(".graphiql-container .graphiql-query-editor", timeout=30_000)
            result = page.evaluate(
                """async (token) => {
                    const fetcher = GraphiQL.createFetcher({ url: "/graphql" });
                    const r = await fetcher({ query: "{ viewer { kind } }" },
                                            { headers: { Authorization: "Bearer " + token } });
                    // the fetcher may answer with an async iterator (incremental delivery)
                    return typeof r?.next === "function" ? (await r.next()).value : r;
                }""",
                token,
            )
        finally:
            browser.close()
    return {"refused": refused, "errors": errors, "result": result}


async def test_graphiql_works_in_chromium_with_no_network(settings, new_tenant):
    pytest.importorskip("playwright", reason="install the `test` extra")
    if not Path(CHROMIUM).exists():
        pytest.skip("no system Chromium: apt-get install chromium")
    import asyncio

    tenant = await new_tenant()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSPACE_")}
    # development mode on a loopback address: GraphiQL on, no production key needed
    env.update(
        DATABASE_URL=settings.database_url, MICROSPACE_LOG_LEVEL="WARNING", MICROSPACE_DEV="true"
    )
    port = free_port()
    proc = _serve(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(_wait_ready, base)
        seen = await asyncio.to_thread(_browse, base, tenant.token)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert seen["errors"] == [], seen
    assert seen["refused"] == [], "the page asked for something outside the API"
    assert seen["result"] == {"data": {"viewer": {"kind": "member"}}}
