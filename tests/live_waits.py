"""Waiting for a subscription to be in place before a test makes the change it should hear."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any


async def subscribed(app: Any, tenant_id: uuid.UUID, n: int = 1, seconds: float = 15) -> None:
    """Until this process holds `n` subscriptions of the tenant and its events are announced
    here: the hub counts a subscription before the tenant's follow is written and settled
    (docs/live.md, "Following a tenant"), and a change committed in between may be missed."""
    hub = app.state.live.hub
    follows = hub.follows
    async with asyncio.timeout(seconds):
        while not (
            hub.tenant_counts.get(tenant_id, 0) >= n
            and (follows is None or (tenant_id in follows.followed and follows.listening.is_set()))
        ):
            await asyncio.sleep(0.05)
