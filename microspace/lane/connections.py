"""Connections the fast lane keeps between overlapping requests, as asyncpg's own."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from core.db import pool_waiting


class RawConnections:
    """Pooled connections as asyncpg's own, for statements that need neither session nor
    ORM (microspace/lane/lane.py). The caller ends its transaction; a block that raises (a
    cancelled statement included) does not hand its connection back: it is closed.

    A checkout from SQLAlchemy's async pool and the checkin cost two greenlet switches,
    about a tenth of a fast-lane request's CPU. So while other such requests are running, a
    finished one leaves its connection here for the next (at most `spare` wait, none longer
    than `hold` seconds). The pool gets every one back as soon as none of these requests
    runs, or anyone waits on the pool: the whole way never waits on connections kept here.
    The lane's statements set their tenant for their own transaction only (migration
    0013): a connection holds no session state to undo.
    """

    def __init__(self, engine: AsyncEngine, spare: int, *, hold: float = 0.1) -> None:
        self.engine = engine
        self.spare = spare
        self.hold = hold
        self._idle: list[tuple[Any, float]] = []  # (checked-out connection, kept since)
        self._running = 0

    def connection(self) -> _Checkout:
        """A connection for the block (a class, not a generator: every lane request takes
        one)."""
        return _Checkout(self)

    async def _done(self) -> None:
        self._running -= 1
        if self._idle and (self._running == 0 or _pool_waiters(self.engine)):
            await self.give_back()

    async def _take(self) -> Any:
        while self._idle:
            fairy, since = self._idle.pop()
            if time.monotonic() - since < self.hold:
                return fairy
            await self._return(fairy)  # the pool's turn to hand it out
        return await self.engine.raw_connection()

    async def _leave(self, fairy: Any) -> None:
        now = time.monotonic()
        while self._idle and now - self._idle[0][1] >= self.hold:
            await self._return(self._idle.pop(0)[0])  # the oldest first: none waits longer
        if self._running > 1 and len(self._idle) < self.spare:
            self._idle.append((fairy, now))
        else:
            await self._return(fairy)

    async def give_back(self) -> None:
        """Every connection kept here, back to the pool."""
        while self._idle:
            fairy, _ = self._idle.pop()
            await self._return(fairy)

    async def _return(self, fairy: Any) -> None:
        await greenlet_spawn(fairy.close)


class _Checkout:
    """`RawConnections.connection`: a connection while the block runs; a block that raises
    closes it."""

    __slots__ = ("connections", "fairy")

    def __init__(self, connections: RawConnections) -> None:
        self.connections = connections

    async def __aenter__(self) -> asyncpg.Connection:
        connections = self.connections
        connections._running += 1
        try:
            self.fairy = await connections._take()
        except BaseException:
            await connections._done()
            raise
        return self.fairy.driver_connection

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is not None:
                await greenlet_spawn(self.fairy.invalidate)
            else:
                await self.connections._leave(self.fairy)
        finally:
            await self.connections._done()


def _pool_waiters(engine: AsyncEngine) -> bool:
    # unknown reads as none: connections kept here still go back within `hold`
    return pool_waiting(engine.sync_engine.pool) > 0
