"""Migrations: the application role, then Alembic's upgrade, both as the owner."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.config import APP_ROLE

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
ROLE_ATTEMPTS = 8


async def ensure_app_role(owner_url: URL, password: str) -> None:
    """Create (or re-password) the application's login: owns nothing, cannot bypass RLS.

    The role is the server's, not one database's: processes starting at once against any
    database of the server race on its catalog row ("tuple concurrently updated"), so a lost
    race is retried, after a random pause; callers on one database queue on an advisory lock.
    """
    for attempt in range(ROLE_ATTEMPTS):
        try:
            await _ensure_app_role(owner_url, password)
            return
        except DBAPIError as exc:
            if "tuple concurrently updated" not in str(exc) or attempt == ROLE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(random.uniform(0.05, 0.25) * (attempt + 1))


async def _ensure_app_role(owner_url: URL, password: str) -> None:
    engine = create_async_engine(owner_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('microspace_app_role'))")
            )
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
            )
            if not exists:
                await conn.execute(text(f"CREATE ROLE {APP_ROLE} LOGIN"))
            await conn.execute(
                text(
                    f"ALTER ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB "
                    f"NOCREATEROLE PASSWORD {_quote_literal(password)}"
                )
            )
            db_name = await conn.scalar(text("SELECT current_database()"))
            await conn.execute(text(f'GRANT CONNECT ON DATABASE "{db_name}" TO {APP_ROLE}'))
            await conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))
    finally:
        await engine.dispose()


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def alembic_config(url: URL) -> Config:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


async def migrate(owner_url: URL, app_password: str, revision: str = "head") -> None:
    """Create the application role, then apply migrations as the owner."""
    await ensure_app_role(owner_url, app_password)
    cfg = alembic_config(owner_url)
    engine = create_async_engine(owner_url)
    try:
        async with engine.begin() as conn:

            def upgrade(sync_conn: Any) -> None:
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()
