"""The application's connections run with JIT off (docs/performance.md, "JIT").

PostgreSQL's default is `jit = on`: a statement whose estimate crosses `jit_above_cost`
pays LLVM compilation on every run, tens of milliseconds for statements that run in one.
"""

from __future__ import annotations

from sqlalchemy import text

# the setting now, and the one RESET ALL (a pooled connection's reset) goes back to: the
# connection's startup setting. (Its source may read `session`: asyncpg turns JIT off for
# its type introspection with set_config, and sets it back only when it was on.)
SETTING = "SELECT current_setting('jit'), reset_val FROM pg_settings WHERE name = 'jit'"


async def test_the_engines_connections_run_without_jit(app_engine):
    async with app_engine.connect() as conn:
        assert (await conn.scalar(text("SHOW jit"))) == "off"
        assert tuple((await conn.execute(text(SETTING))).one()) == ("off", "off")


async def test_the_lanes_connections_run_without_jit(served_app):
    lane = served_app.state.fast_lane
    async with lane.connections.connection() as raw:
        assert await raw.fetchval("SHOW jit") == "off"
        assert tuple(await raw.fetchrow(SETTING)) == ("off", "off")
