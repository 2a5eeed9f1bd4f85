"""Every migration on the quick start's own PostgreSQL.

The suite's server in CI is the machine's PostgreSQL 15; the quick start without
`DATABASE_URL` runs the embedded server, a newer major version (18). A type named with a
word that became a keyword in PostgreSQL 16 (`json_object`) once broke the quick start's
migrations while the whole suite, on 15, passed. So the chain runs here on the embedded
server too: from empty to head, down to the head of the file renames, and up again.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.devdb import start_server, stop_server, url_of
from core.migrate import migrate
from tests.test_migration_chain import BEFORE, _alembic, _schema, _version


async def test_the_chain_runs_on_the_embedded_server(tmp_path: Path) -> None:
    server = start_server(tmp_path / "embedded")
    try:
        admin = create_async_engine(url_of(server), isolation_level="AUTOCOMMIT")
        name = f"microspace_embedded_{uuid.uuid4().hex[:12]}"
        async with admin.connect() as conn:
            major = int(await conn.scalar(text("SHOW server_version_num"))) // 10000
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        assert major >= 16, "the embedded server is no newer than CI's: this test proves nothing"
        url = make_url(url_of(server, name))

        await migrate(url, "microspace_app")
        head = await _schema(url)
        await _alembic(url, command.downgrade, BEFORE)
        await migrate(url, "microspace_app")
        assert await _schema(url) == head
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            assert await _version(conn) != BEFORE
        await engine.dispose()
    finally:
        stop_server(server)
