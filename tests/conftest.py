"""Test fixtures: a fresh database per test session on a real PostgreSQL.

The server is TEST_DATABASE_URL (or DATABASE_URL) when set, else the embedded one. Tests do
not share rows: each one creates its own tenants, which tenant isolation keeps apart.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette

from core.config import Settings, async_url, load_settings
from core.migrate import migrate
from microspace.app import create_app
from microspace.commands.tenants import Created, create_member, create_tenant


def _server_url() -> URL:
    raw = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if raw:
        return async_url(raw)
    from core.devdb import DEFAULT_DATA_DIR, embedded_url

    return make_url(embedded_url(DEFAULT_DATA_DIR.parent / "test-postgres"))


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[URL]:
    server = _server_url()
    name = f"microspace_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    try:
        await migrate(url, "microspace_app")
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: URL) -> Settings:
    return replace(
        load_settings(),
        database_url=database_url.render_as_string(hide_password=False),
        app_database_url=None,
        app_db_password="microspace_app",
        dev_mode=True,
        secret_key="test-only-secret-key",
        # every test's requests come from one process and one client address, so they would
        # all drain one anonymous bucket and fail by test order; the rate limit has its own
        # tests (tests/test_security.py) on an app with the production values
        rate_limit_burst=10**9,
        rate_limit_rate=10.0**9,
    )


# state snapshots (100 spaces x 100 blocks) cost ~100,000 and hold 10,100 list entries,
# over the production 50,000 and 10,000
BIG_QUERY_COST = 250_000
BIG_QUERY_NODES = 1_000_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "big_queries: the test's client talks to an app whose cost limit admits whole-state "
        f"snapshots ({BIG_QUERY_COST}); every other test runs at the production limits",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    yield application
    await application.state.microspace.engine.dispose()


@pytest.fixture(scope="session")
async def big_app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(replace(settings, max_cost=BIG_QUERY_COST, max_nodes=BIG_QUERY_NODES))
    yield application
    await application.state.microspace.engine.dispose()


@pytest.fixture
def served_app(request: pytest.FixtureRequest) -> Starlette:
    """The app a test's client talks to: `big_app` when marked `big_queries`, else `app`."""
    marked = request.node.get_closest_marker("big_queries") is not None
    application: Starlette = request.getfixturevalue("big_app" if marked else "app")
    return application


@pytest.fixture
def app_engine(served_app: Starlette) -> AsyncEngine:
    return served_app.state.microspace.engine


@pytest.fixture
async def client(served_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=served_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def owner_engine(database_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def owner_url(database_url: URL) -> URL:
    return database_url


class Api:
    """A GraphQL client bound to one token."""

    def __init__(self, client: httpx.AsyncClient, token: str | None) -> None:
        self.client = client
        self.token = token

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.client.post("/graphql", json=body, headers=headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        # a refused query would make "before == after" comparisons pass without checking
        # anything: a test that needs a big query is marked `big_queries`
        assert "COST_LIMIT" not in error_codes(body), "mark the test `big_queries`"
        return body


@pytest.fixture
def api(client: httpx.AsyncClient):
    def bind(token: str | None) -> Api:
        return Api(client, token)

    return bind


@pytest.fixture
def new_tenant(owner_url: URL):
    async def make(name: str = "Tenant") -> Created:
        return await create_tenant(
            owner_url, f"{name} {uuid.uuid4().hex[:6]}", f"owner-{uuid.uuid4().hex[:8]}@example.com"
        )

    return make


@pytest.fixture
def new_member(owner_url: URL):
    async def make(tenant_id: uuid.UUID, role: str) -> Created:
        return await create_member(
            owner_url, str(tenant_id), f"{role}-{uuid.uuid4().hex[:8]}@example.com", role
        )

    return make


def error_codes(result: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors") or []]


@pytest.fixture(params=["compiled", "resolvers"])
def read_path(request):
    """Run a test once on each read path (compiler/ and the resolvers): one answer."""
    if "api" not in request.fixturenames and "client" not in request.fixturenames:
        yield request.param
        return
    reads = request.getfixturevalue("served_app").state.compiled_reads
    reads.enabled = request.param == "compiled"
    try:
        yield request.param
    finally:
        reads.enabled = True
