"""The tenants this process has subscribers of, written where the announcement trigger looks.

A domain event is announced (NOTIFY) only when some process follows its tenant: a row in
`live_follows` (migration 0043) with an expiry this process renews. The first subscription
of a tenant waits until its row is written and every transaction that was under way then
has ended (docs/live.md "Following a tenant" says why); later ones do not wait. When the
tenant's last subscription here ends, its row goes.

One dedicated connection, one change at a time: the rows follow the hub's subscriptions
(`Hub.tenant_counts`), whatever order subscribes and unsubscribes come in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

import asyncpg

log = logging.getLogger("microspace.live")

TTL = 120  # seconds a row stands without renewal (a process that died stops announcements)
RENEW = 30.0  # seconds between renewals
SETTLE_LIMIT = 5.0  # seconds a first subscription waits for the writes under way at most
FOLLOW = "SELECT app_live_follow($1, $2::uuid[], $3)"
UNFOLLOW = "SELECT app_live_unfollow($1, $2::uuid[])"
UNDER_WAY = "SELECT pg_snapshot_xip(pg_current_snapshot())::text"
STILL = "SELECT count(*) FROM unnest($1::text[]) AS x WHERE pg_xact_status(x::xid8) = 'in progress'"


class Follows:
    def __init__(
        self, dsn: str, wanted: Callable[[], set[uuid.UUID]], listening: asyncio.Event
    ) -> None:
        self.dsn = dsn
        self.wanted = wanted  # the tenants with subscriptions here now
        self.listening = listening  # set while this process's LISTEN connection is up
        self.process = uuid.uuid4()
        self.followed: set[uuid.UUID] = set()  # rows written, settled
        self.waiting: dict[uuid.UUID, asyncio.Future[None]] = {}
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    async def follow(self, tenant: uuid.UUID) -> None:
        """Returns once the tenant's events are announced to this process (or after a
        bounded wait when the database does not answer: logged, written once it does)."""
        waiting = None
        if tenant not in self.followed:
            waiting = self.waiting.get(tenant)
            if waiting is None:
                waiting = self.waiting[tenant] = asyncio.get_running_loop().create_future()
                self.start()
                self.wake.set()
        elif self.listening.is_set():
            return
        try:
            async with asyncio.timeout(TTL / 4):
                if waiting is not None:
                    await asyncio.shield(waiting)
                await self.listening.wait()
        except TimeoutError:
            log.warning("live follows: tenant %s not followed yet", tenant)

    def changed(self) -> None:
        """A tenant's last subscription here ended: its row is to go."""
        self.wake.set()

    async def stop(self) -> None:
        if self.task is None:
            return
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None
        if self.followed:
            with contextlib.suppress(Exception):
                conn = await asyncpg.connect(self.dsn)
                try:
                    await conn.execute(UNFOLLOW, self.process, None)
                finally:
                    await conn.close()
            self.followed.clear()

    async def _run(self) -> None:
        delay = 0.2
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": "microspace-live-follows"}
                )
                # after a lost connection: write every row again
                await self._sync(conn, renew=True)
                delay = 0.2
                while True:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), RENEW)
                    renew = not self.wake.is_set()
                    self.wake.clear()
                    await self._sync(conn, renew=renew)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live follows: %s; reconnecting in %.1f s", exc, delay)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _sync(self, conn: asyncpg.Connection, *, renew: bool) -> None:
        while True:
            wanted = self.wanted() | set(self.waiting)
            gone = self.followed - wanted
            if gone:
                # out of `followed` first: a subscription arriving meanwhile waits for its row
                self.followed -= gone
                await conn.execute(UNFOLLOW, self.process, list(gone))
            new = wanted - self.followed
            if not (new or renew):
                return
            await conn.execute(FOLLOW, self.process, list(self.followed | new), TTL)
            renew = False
            if new:
                await self._settle(conn)
                self.followed |= new
                for tenant in new:
                    waiting = self.waiting.pop(tenant, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(None)

    async def _settle(self, conn: asyncpg.Connection) -> None:
        """Wait for the transactions under way when the rows were written: one that looked
        for its tenant's row before then announces nothing, and has not committed yet."""
        xids = [str(x) for x in await conn.fetchval(f"SELECT array({UNDER_WAY})") or []]
        loop = asyncio.get_running_loop()
        until = loop.time() + SETTLE_LIMIT
        while xids and loop.time() < until:
            if not await conn.fetchval(STILL, xids):
                return
            await asyncio.sleep(0.005)
