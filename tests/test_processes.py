"""More than one process: one rate-limit budget, one migration run, one send per e-mail.

Invariants guarded here:
- two API processes (uvicorn, separate interpreters) against one Redis spend one budget per
  principal: requests alternating between them see one falling `RateLimit-Remaining`, and
  the budget is refused on both once it is spent;
- migrations started twice at once (two `migrate` processes on a fresh database) both
  succeed and leave the schema at head: the advisory lock serialises them;
- two worker processes draining one outbox at once send each e-mail once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.ports import free_ports

ROOT = Path(__file__).resolve().parent.parent
BURST = 40
QUERY = {"query": "{ viewer { kind } }"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MICROSPACE_", "REDIS_"))}
    # production mode, as deployed: with a key of its own
    env.update(
        MICROSPACE_LOG_LEVEL="WARNING",
        MICROSPACE_SECRET_KEY=uuid.uuid4().hex * 2,
        MICROSPACE_PUBLIC_URL="https://api.test.example",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def _wait_ready(procs: list[subprocess.Popen[str]], ports: tuple[int, ...]) -> None:
    deadline = time.monotonic() + 90
    pending = set(ports)
    while pending and time.monotonic() < deadline:
        for port in list(pending):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    pending.discard(port)
            except httpx.HTTPError:
                pass
        for proc in procs:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.3)
    assert not pending, f"not ready: {pending}"


def _serve(port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "server.py"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def redis_prefix(redis_url):
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


async def test_two_api_processes_spend_one_budget(settings, new_tenant, redis_url, redis_prefix):
    tenant = await new_tenant()
    ports = free_ports(2)  # distinct: two picks one at a time may be the same port
    env = _env(
        DATABASE_URL=settings.database_url,
        REDIS_URL=redis_url,
        MICROSPACE_REDIS_PREFIX=redis_prefix,
        MICROSPACE_RATE_LIMIT_BURST=str(BURST),
        MICROSPACE_RATE_LIMIT_RATE="0.001",
    )
    procs = [_serve(port, env) for port in ports]
    try:
        await asyncio.to_thread(_wait_ready, procs, ports)
        auth = {"Authorization": f"Bearer {tenant.token}"}
        remaining: list[int] = []
        allowed = {port: 0 for port in ports}
        async with httpx.AsyncClient(timeout=10) as client:
            # when requests alternate between the two processes until the budget is spent
            for i in range(2 * BURST):
                port = ports[i % 2]
                r = await client.post(f"http://127.0.0.1:{port}/graphql", json=QUERY, headers=auth)
                if r.status_code == 429:
                    break
                assert r.status_code == 200, r.text
                allowed[port] += 1
                remaining.append(int(r.headers["RateLimit-Remaining"]))
            # then both refuse from now on
            for port in ports:
                r = await client.post(f"http://127.0.0.1:{port}/graphql", json=QUERY, headers=auth)
                assert r.status_code == 429, r.text
                assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # one bucket: each answer, from either process, saw the other's spending
        assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == len(
            remaining
        )
        per_request = BURST - remaining[0]
        assert per_request >= 1
        assert sum(allowed.values()) == BURST // per_request
        assert all(n >= 1 for n in allowed.values())
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_migrations_started_twice_at_once_apply_once(database_url):
    # given a fresh, empty database
    name = f"microspace_mig_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = database_url.set(database=name)
    try:
        env = _env(DATABASE_URL=url.render_as_string(hide_password=False))
        # when two migrate commands start at the same moment
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "server.py"),
                "migrate",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        outputs = [(await p.communicate())[0].decode() for p in procs]
        # then both succeed and the schema is at head, once
        for proc, output in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, output
            assert "migrations applied" in output
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                versions = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).all()
                tables = await conn.scalar(
                    text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                )
        finally:
            await engine.dispose()
        from alembic.script import ScriptDirectory

        from core.migrate import alembic_config

        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert versions == [(head,)]
        assert tables > 5
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


INVITE = """mutation($s: ID!, $ids: [ID!]!) {
  spaceInvite(input: {spaceId: $s, contactIds: $ids}) { userErrors { code } } }"""


async def test_two_workers_on_one_outbox_send_each_email_once(
    api, new_tenant, owner_url, settings, tmp_path
):
    from sqlalchemy import select

    from core.db import owner_db
    from core.ids import encode_id
    from models import EmailSent, OutboxMessage
    from tests.factories import make_contacts, make_space

    # given a dozen queued invitations
    tenant = await new_tenant()
    contacts = await make_contacts(owner_url, tenant.tenant_id, 12)
    space, _ = await make_space(owner_url, tenant.tenant_id)
    ids = [encode_id("Contact", c) for c in contacts]
    invited = await api(tenant.token)(INVITE, {"s": space, "ids": ids})
    assert invited["data"]["spaceInvite"]["userErrors"] == []
    # when two workers drain the outbox at the same moment
    env = _env(DATABASE_URL=settings.database_url, MICROSPACE_MAIL_DIR=str(tmp_path))
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "server.py"),
            "worker",
            "--once",
            "--no-migrate",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await p.communicate() for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    sent = [_stats(out.decode())["sent"] for out, _ in outputs]
    # then each e-mail went out once: one file, one record per contact, one claim each
    # (the workers also drain what other tests of the session queued: count this tenant's)
    assert sum(sent) >= 12
    async with owner_db(owner_url, tenant.tenant_id) as db:
        records = list(await db.scalars(select(EmailSent.contact_id)))
        rows = list(await db.scalars(select(OutboxMessage)))
    assert sorted(records) == sorted(contacts)
    assert [r.status for r in rows] == ["sent"] * 12
    assert all((tmp_path / f"{r.id}.eml").exists() for r in rows)


def _stats(output: str) -> dict[str, int]:
    """The JSON line `worker --once` prints last."""
    line = next(x for x in reversed(output.strip().splitlines()) if x.startswith("{"))
    return dict(json.loads(line))
