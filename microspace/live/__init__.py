"""Live updates: GraphQL subscriptions over `graphql-transport-ws` on `/graphql`
(docs/live.md). The app composes it with the `/graphql` view's `handle`, through which
every event's query runs (microspace/live/runner.py)."""

from __future__ import annotations

import asyncio
import contextlib

from graphql import GraphQLSchema
from starlette.types import Receive, Scope, Send

from microspace.live.follows import Follows
from microspace.live.hub import Hub
from microspace.live.listener import Listener
from microspace.live.metrics import LiveMetrics
from microspace.live.protocol import endpoint
from microspace.live.runner import Handle, Runner

PING_SLICES = 10
from microspace.web.state import AppState


class Live:
    """The process's subscriptions: the hub, its LISTEN connection and its keep-alive."""

    def __init__(self, state: AppState, schema: GraphQLSchema, handle: Handle) -> None:
        settings = state.settings
        self.state = state
        self.schema = schema
        self.metrics = LiveMetrics(state.metrics.registry)
        self.hub = Hub(
            self.metrics,
            per_connection=settings.live_max_subscriptions_per_connection,
            per_tenant=settings.live_max_subscriptions_per_tenant,
        )
        self.hub.run = Runner(handle, self.metrics)
        dsn = settings.app_url().set(drivername="postgresql")
        self.listener = Listener(
            dsn.render_as_string(hide_password=False),
            self.hub,
            on_reconnect=self.metrics.listener_reconnects.inc,
            on_statements=self.metrics.statements.inc,
        )
        self.hub.follows = Follows(
            dsn.render_as_string(hide_password=False),
            lambda: set(self.hub.tenant_counts),
            self.listener.ready,
        )
        self.pinger: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.start()
        await endpoint(self.state, self.hub, self.schema, scope, receive, send)

    def start(self) -> None:
        """Started by the first connection (in the server's event loop)."""
        self.listener.start()
        if self.pinger is None:
            self.pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        # a slice of the sockets at a time, each still pinged once a period: 10,000 pings
        # (and their pongs) at once held up the event fanned out behind them by a second
        tick = 0
        while True:
            await asyncio.sleep(self.state.settings.live_ping_seconds / PING_SLICES)
            self.hub.ping_all(part=tick % PING_SLICES, parts=PING_SLICES)
            tick += 1

    async def stop(self) -> None:
        """Close every socket (1001, going away: clients reconnect elsewhere) and stop."""
        self.hub.freezer.stop()
        self.hub.close_all()
        await asyncio.sleep(0)
        if self.pinger is not None:
            self.pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pinger
            self.pinger = None
        await self.listener.stop()
        if self.hub.follows is not None:
            await self.hub.follows.stop()
