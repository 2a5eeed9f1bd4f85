"""A worker process that stops mid-way through a scheduled publish, for
tests/test_schedules.py to kill: it claims a due schedule and publishes in its transaction,
prints HELD, and waits (the transaction open, the row locked) until it is killed."""

from __future__ import annotations

import asyncio
import sys

import store.schedules
from core.config import load_settings
from core.db import make_engine, sessionmaker_for
from microspace.jobs.schedules import run_schedules

real_publish = store.schedules.publish


async def publish_then_hang(*args, **kwargs):  # type: ignore[no-untyped-def]
    revision = await real_publish(*args, **kwargs)
    print("HELD", flush=True)
    await asyncio.sleep(600)  # killed here: nothing of this transaction commits
    return revision


async def main() -> None:
    store.schedules.publish = publish_then_hang  # type: ignore[assignment]
    engine = make_engine(load_settings().app_url(), pool_size=2, max_overflow=0)
    try:
        await run_schedules(sessionmaker_for(engine))
    finally:
        await engine.dispose()
    print("NOTHING DUE", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
