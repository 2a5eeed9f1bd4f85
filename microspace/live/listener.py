"""One dedicated connection per process LISTENs for announced domain events.

A mutation's transaction writes its domain events; a trigger (migration 0036) announces each
with NOTIFY at commit, carrying the tenant and event id only. This connection collects the
announcements, reads the events in batches (one statement per batch, `app_live_events`), and
hands them to the hub. A block event's space is looked up (under the tenant's row-level
security) only when someone in this process follows that tenant's blocks.

After a lost connection it reconnects with backoff; events announced in the gap are not
replayed (docs/live.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

from core.ids import parse_id
from microspace.live.hub import Hub
from microspace.live.topics import BLOCKS, Event

log = logging.getLogger("microspace.live")
CHANNEL = "microspace_live"
BATCH = 1000
READ = "SELECT tenant_id, id, topic, payload FROM app_live_events($1::uuid[], $2::uuid[])"
SPACES_OF = "SELECT id, space_id FROM blocks WHERE id = ANY($1::uuid[])"
SCOPE = "SELECT set_config('app.tenant_id', $1, true)"


class Listener:
    def __init__(
        self,
        dsn: str,
        hub: Hub,
        *,
        on_reconnect: Callable[[], None] | None = None,
        on_statements: Callable[[int], None] | None = None,
    ):
        self.dsn = dsn
        self.hub = hub
        self.on_reconnect = on_reconnect
        self.on_statements = on_statements or (lambda n: None)
        self.pending: list[tuple[uuid.UUID, uuid.UUID]] = []
        self.wake = asyncio.Event()
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        tenant, _, event = payload.partition(" ")
        try:
            self.pending.append((uuid.UUID(tenant), uuid.UUID(event)))
        except ValueError:
            return
        self.wake.set()

    def _on_lost(self, lost: asyncio.Event) -> Callable[[Any], None]:
        def terminated(_conn: Any) -> None:
            lost.set()
            self.wake.set()

        return terminated

    async def _run(self) -> None:
        delay = 0.2
        first = True
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": "microspace-live"}
                )
                lost = asyncio.Event()

                conn.add_termination_listener(self._on_lost(lost))
                await conn.add_listener(CHANNEL, self._notified)
                if not first and self.on_reconnect is not None:
                    self.on_reconnect()
                first, delay = False, 0.2
                self.ready.set()
                while not lost.is_set():
                    await self.wake.wait()
                    self.wake.clear()
                    while self.pending and not lost.is_set():
                        batch, self.pending = self.pending[:BATCH], self.pending[BATCH:]
                        self.hub.dispatch(await self._read(conn, batch))
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live listener: %s; reconnecting in %.1f s", exc, delay)
            finally:
                self.ready.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _read(
        self, conn: asyncpg.Connection, batch: list[tuple[uuid.UUID, uuid.UUID]]
    ) -> list[Event]:
        tenants = [t for t, _ in batch]
        if not any(t in self.hub.by_tenant for t in tenants):
            return []  # nobody here follows these tenants: nothing to read
        rows = await conn.fetch(READ, tenants, [e for _, e in batch])
        self.on_statements(1)
        events = [_event(row) for row in rows]
        return await self._with_spaces(conn, events)

    async def _with_spaces(self, conn: asyncpg.Connection, events: list[Event]) -> list[Event]:
        """Block events of tenants whose blocks someone follows, with their space."""
        wanted: dict[uuid.UUID, set[uuid.UUID]] = {}
        for e in events:
            if e.topic in BLOCKS and e.space_id is None and self.hub.wants_blocks(e.tenant_id):
                block = _uuid(e.object_id)
                if block is not None:
                    wanted.setdefault(e.tenant_id, set()).add(block)
        spaces: dict[uuid.UUID, uuid.UUID] = {}
        for tenant, blocks in wanted.items():
            async with conn.transaction():
                await conn.execute(SCOPE, str(tenant))
                for row in await conn.fetch(SPACES_OF, list(blocks)):
                    spaces[row["id"]] = row["space_id"]
            self.on_statements(2)
        if not spaces:
            return events
        out = []
        for e in events:
            block = _uuid(e.object_id) if e.topic in BLOCKS else None
            if block in spaces:
                e = Event(e.tenant_id, e.id, e.topic, e.object_id, spaces[block])
            out.append(e)
        return out


def _event(row: asyncpg.Record) -> Event:
    payload = row["payload"]
    if isinstance(payload, str):
        payload = orjson.loads(payload)
    space = payload.get("space")
    return Event(
        tenant_id=row["tenant_id"],
        id=row["id"],
        topic=row["topic"],
        object_id=payload.get("id"),
        space_id=_uuid(space) if space else None,
    )


def _uuid(global_id: str | None) -> uuid.UUID | None:
    if not global_id:
        return None
    try:
        return parse_id(global_id)[1]
    except Exception:  # noqa: BLE001 - a malformed id in an event matches nothing
        return None
