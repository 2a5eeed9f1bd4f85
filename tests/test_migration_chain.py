"""Migrations: file names sort in chain order, and the chain runs both ways.

Invariants:
- `migrations/versions/NN_name.py`: sorting the file names gives the revision chain, one
  base and one head, numbers 01, 02, ... without gaps; migrations/README.md names every
  file with its revision id;
- an empty database upgrades to head; a database at 0013 (the head before the file
  renames) upgrades to the same schema, downgrades back to the schema it had, and upgrades
  again; a token made at 0013 authenticates all along.
"""

from __future__ import annotations

import ast
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from core.migrate import MIGRATIONS, alembic_config, migrate

VERSIONS = MIGRATIONS / "versions"
FILE_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+\.py$")
BEFORE = "0013"  # the head when the files were renamed: existing databases stand there


def _revisions() -> dict[str, tuple[str, str | None]]:
    """File name -> (revision, down_revision), read from each file's assignments."""
    found = {}
    for path in VERSIONS.glob("*.py"):
        if path.name == "__init__.py":
            continue
        values: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.targets[0] if isinstance(node, ast.Assign) else None
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                values[target.id] = ast.literal_eval(node.value)  # type: ignore[attr-defined]
        found[path.name] = (values["revision"], values["down_revision"])
    return found


def test_file_names_sort_in_chain_order() -> None:
    revisions = _revisions()
    by_down = {down: (name, rev) for name, (rev, down) in revisions.items()}
    assert len(by_down) == len(revisions), "two migrations revise the same one: a branch"
    chain: list[str] = []
    down: str | None = None
    while down in by_down:
        name, down = by_down[down]
        chain.append(name)
    assert chain == sorted(revisions), "sorted file names are not the chain order"
    numbers = [int(FILE_NAME.match(name).group(1)) for name in chain]  # type: ignore[union-attr]
    assert numbers == list(range(1, len(chain) + 1))


def test_the_readme_names_every_migration() -> None:
    readme = (MIGRATIONS / "README.md").read_text(encoding="utf-8")
    for name, (revision, _) in _revisions().items():
        assert re.search(rf"`{re.escape(name)}`.*`{revision}`", readme), name


# ------------------------------------------------------------------- upgrade, downgrade

SCHEMA = {
    "functions": "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), "
    "p.proacl::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
    "AND p.prokind = 'f'",
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default "
    "FROM information_schema.columns WHERE table_schema = 'public'",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
    "FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "policies": "SELECT tablename, policyname, cmd, roles::text, qual, with_check "
    "FROM pg_policies WHERE schemaname = 'public'",
    "grants": "SELECT table_name, grantee, privilege_type "
    "FROM information_schema.role_table_grants WHERE table_schema = 'public'",
}


async def _schema(url: URL) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                part: sorted(tuple(row) for row in (await conn.execute(text(sql))).all())
                for part, sql in SCHEMA.items()
            }
    finally:
        await engine.dispose()


async def _alembic(url: URL, step: Callable[..., None], revision: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:

            def run(sync_conn: Any) -> None:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = sync_conn
                step(cfg, revision)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def _version(conn: AsyncConnection) -> str:
    version: str = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    return version


@pytest.fixture
async def scratch(database_url: URL) -> AsyncIterator[Callable[[], Any]]:
    """Empty databases on the test server, dropped afterwards."""
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    async def make() -> URL:
        name = f"microspace_chain_{uuid.uuid4().hex[:12]}"
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return database_url.set(database=name)

    try:
        yield make
    finally:
        async with admin.connect() as conn:
            for name in names:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _token_authenticates(url: URL, digest: bytes) -> bool:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(*) FROM app_authenticate(:h)"), {"h": digest}
            )
            return bool(found == 1)
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_and_from_0013_then_down_and_up(scratch: Any) -> None:
    fresh = await scratch()
    await migrate(fresh, "microspace_app")
    head = await _schema(fresh)

    existing = await scratch()
    await migrate(existing, "microspace_app", BEFORE)
    before = await _schema(existing)
    tenant, digest = uuid.uuid4(), os.urandom(32)
    engine = create_async_engine(existing)
    try:
        async with engine.begin() as conn:
            assert await _version(conn) == BEFORE
            await conn.execute(
                text("INSERT INTO tenants (id, name) VALUES (:t, 'Chain')"), {"t": tenant}
            )
            await conn.execute(
                text(
                    "INSERT INTO api_tokens (tenant_id, id, kind, token_hash) "
                    "VALUES (:t, :id, 'partner', :h)"
                ),
                {"t": tenant, "id": uuid.uuid4(), "h": digest},
            )
    finally:
        await engine.dispose()

    await migrate(existing, "microspace_app")
    assert await _schema(existing) == head
    assert await _token_authenticates(existing, digest)

    await _alembic(existing, command.downgrade, BEFORE)
    assert await _schema(existing) == before
    assert await _token_authenticates(existing, digest)

    await migrate(existing, "microspace_app")
    assert await _schema(existing) == head
    assert await _token_authenticates(existing, digest)


def test_alembic_finds_one_head_at_the_last_file() -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    script = ScriptDirectory.from_config(alembic_config(make_url("postgresql://")))
    (head,) = script.get_heads()
    name, (revision, _) = max(_revisions().items())
    assert revision == head
    found = script.get_revision(head)
    assert found is not None and Path(found.path).name == name


# functions every request (or every request from a browser, or every audited read) calls
PER_REQUEST = (
    "app_cors_origins",
    # a credential's allow-list, and a tenant's widget keys' origins in it (migration 0051)
    "app_token_origins",
    "app_widget_origins",
    "app_origin_known",
    "app_authenticate",
    "app_lane_scope",
    # a remembered member's or partner's checks (migration 0061)
    "app_lane_known",
    "app_lane_check_known",
    "app_token_check",
    "app_token_match",
    "audit_principal_signature",
    "audit_entry_hash",
    "audit_append",
    "app_lane_audit",
    # merge fields in every read of a block (migration 0035)
    "app_merged",
    "app_merge_fields",
    "app_merge_values",
    # what a member's or visitor's read of a merge field discloses (migration 0040)
    "app_merge_audit",
    "app_merge_withheld",
)


async def test_functions_called_per_request_keep_their_plans(owner_engine):
    """A SQL function PostgreSQL cannot inline (one with the owner's rights, or with its
    own settings) plans its query again on every call: 0.4 ms measured for
    `app_cors_origins`, more than the read it guards. Each function a request calls is
    PL/pgSQL (its plans kept for the session) or a SQL function PostgreSQL inlines
    (migrations 0022, 0023)."""
    from sqlalchemy import text

    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT p.proname, l.lanname, p.prosecdef, p.proconfig IS NOT NULL "
                "FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                "WHERE p.proname = ANY(:names)"
            ),
            {"names": list(PER_REQUEST)},
        )
        found = {
            name: (language, definer or configured) for name, language, definer, configured in rows
        }
    assert set(found) == set(PER_REQUEST)
    replanned = [n for n, (language, fenced) in found.items() if language == "sql" and fenced]
    assert replanned == []


async def test_spaces_personalised_before_titles_followed_keep_a_members_change(
    scratch: Any,
) -> None:
    """Migration 0041: a personalised space whose title or description differs from its
    template's is marked overridden, so the template's next publish does not overwrite
    what a member may have written; one that matches follows."""
    url = await scratch()
    await migrate(url, "microspace_app", "0040")
    tenant, template, changed, same = (uuid.uuid4() for _ in range(4))
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO tenants (id, name) VALUES (:t, 'Follow')"), {"t": tenant}
            )
            for space, title, description, of in (
                (template, "Welcome", "Start here", None),
                (changed, "Ann's welcome", "Start here", template),
                (same, "Welcome", "Bob's notes", template),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO spaces (tenant_id, id, title, slug, description, "
                        "is_template, template_id) VALUES (:t, :s, :title, :slug, :d, :tpl, :of)"
                    ),
                    {
                        "t": tenant,
                        "s": space,
                        "title": title,
                        "slug": f"s-{space.hex[:8]}",
                        "d": description,
                        "tpl": of is None,
                        "of": of,
                    },
                )
        await migrate(url, "microspace_app")
        async with engine.connect() as conn:
            marks = {
                r.id: (r.title_overridden, r.description_overridden)
                for r in await conn.execute(
                    text("SELECT id, title_overridden, description_overridden FROM spaces")
                )
            }
    finally:
        await engine.dispose()
    assert marks == {template: (False, False), changed: (True, False), same: (False, True)}
