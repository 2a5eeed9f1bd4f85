"""Announcements only for the tenants some process follows (migration 0043,
microspace/live/follows.py), on real PostgreSQL with a real LISTEN connection.

Invariants guarded here:
- a domain event of a tenant no process follows is not announced; once a subscription of the
  tenant joins a hub, its events are, and another tenant's still are not;
- the first follow of a tenant returns only after the writes under way have ended (a write
  that looked for the tenant's row before it existed announces nothing: docs/live.md);
- when the tenant's last subscription leaves, its row goes and its events are not announced.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from prometheus_client import CollectorRegistry

from core.ids import encode_id
from microspace.live.follows import Follows
from microspace.live.hub import Hub, Socket
from microspace.live.metrics import LiveMetrics
from microspace.live.topics import plan
from schema.build import build_schema

SCHEMA = build_schema()._schema  # type: ignore[attr-defined]
DOC = "subscription($id: ID!) { spaceChanged(id: $id) { id title } }"
EMIT = "SELECT app_emit_events($1, 'test.followed', ARRAY['{}'::jsonb])"


async def _emit(conn: asyncpg.Connection, tenant: uuid.UUID) -> None:
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))
    await conn.execute(EMIT, tenant)


async def _write(dsn: str, tenant: uuid.UUID) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await _emit(conn, tenant)
    finally:
        await conn.close()


async def _rows(owner: asyncpg.Connection, tenant: uuid.UUID) -> int:
    # the owner's policy shows every tenant's rows (other tests' processes follow theirs)
    count: int = await owner.fetchval(
        "SELECT count(*) FROM live_follows WHERE tenant_id = $1", tenant
    )
    return count


async def test_only_followed_tenants_are_announced(settings, new_tenant, owner_url):
    dsn = settings.app_url().set(drivername="postgresql").render_as_string(hide_password=False)
    owner = await asyncpg.connect(
        owner_url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    t, other = await new_tenant("Followed"), await new_tenant("Not followed")
    tenant, stranger = uuid.UUID(str(t.tenant_id)), uuid.UUID(str(other.tenant_id))
    announced: list[str] = []
    listener = await asyncpg.connect(dsn)
    await listener.add_listener(
        "microspace_live", lambda *a: announced.append(a[3].partition(" ")[0])
    )
    listening = asyncio.Event()
    listening.set()
    hub = Hub(LiveMetrics(CollectorRegistry()), per_connection=10, per_tenant=10)
    follows = Follows(dsn, lambda: set(hub.tenant_counts), listening)
    hub.follows = follows
    socket = Socket(8)
    writer = await asyncpg.connect(dsn)
    try:
        # nobody follows the tenant: its write announces nothing
        await _write(dsn, tenant)
        await asyncio.sleep(0.3)
        assert announced == []

        # a write under way (its event written, not committed) when the tenant is followed
        pending = writer.transaction()
        await pending.start()
        await _emit(writer, tenant)
        p = plan(SCHEMA, DOC, None, {"id": encode_id("Space", uuid.uuid4())}, "member")
        added = hub.add(
            socket,
            "1",
            p,
            tenant_id=tenant,
            kind="member",
            credential="Bearer x",
            origin=None,
            client=None,
        )
        assert added is None
        following = asyncio.create_task(follows.follow(tenant))
        await asyncio.sleep(0.5)
        assert not following.done(), "the first follow waits for the write under way"
        assert await _rows(owner, tenant) == 1
        await pending.commit()
        await asyncio.wait_for(following, 5)

        # followed: its writes are announced, the other tenant's are not
        await _write(dsn, stranger)
        await _write(dsn, tenant)
        for _ in range(50):
            if str(tenant) in announced:
                break
            await asyncio.sleep(0.05)
        assert str(tenant) in announced
        assert str(stranger) not in announced

        # the last subscription leaves: the row goes, nothing is announced
        hub.remove(socket, "1")
        for _ in range(50):
            if await _rows(owner, tenant) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _rows(owner, tenant) == 0
        before = len(announced)
        await _write(dsn, tenant)
        await asyncio.sleep(0.3)
        assert len(announced) == before
    finally:
        await follows.stop()
        await writer.close()
        await listener.close()
        await owner.close()
