"""Starting several processes at once (workers, the CLI, test sessions on one server) sets
up the application role at once: no start-up fails on the race for the role's catalog row."""

from __future__ import annotations

import asyncio

from core.migrate import ensure_app_role


async def test_concurrent_app_role_setup_succeeds(database_url):
    await asyncio.gather(*(ensure_app_role(database_url, "microspace_app") for _ in range(8)))
