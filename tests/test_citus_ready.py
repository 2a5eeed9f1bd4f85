"""Ready to distribute by tenant (Citus): the catalogue, walked after all migrations.

Invariants guarded here (docs/scaling.md says why each matters on Citus):
- every tenant table (one with a `tenant_id` column) has a primary key, and it and every
  unique constraint or unique index include `tenant_id` (Citus enforces uniqueness only
  within a shard: the distribution column must be part of it);
- every foreign key between tenant tables includes `tenant_id` on both sides, at the same
  position (so both rows live in the same shard: colocated joins and checks);
- no foreign key points from a non-tenant table into a tenant table;
- every table that is not a tenant table is listed below as a reference or local table;
- every tenant table keeps row-level security enabled and forced.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

# not distributed by tenant: replicated to every node (reference) or kept on the coordinator
REFERENCE_TABLES = {
    "tenants": "the tenant registry, read by every authentication; small",
}
LOCAL_TABLES = {
    "alembic_version": "migration bookkeeping, coordinator only",
    "audit_key": "the audit chain's signing key: one row, read by the owner's functions",
}

TABLES = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
               AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""
CONSTRAINTS = """
SELECT r.relname, c.conname, c.contype::text AS contype, f.relname AS ref,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
         AS refcols
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
LEFT JOIN pg_class f ON f.oid = c.confrelid
WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')
"""
UNIQUE_INDEXES = """
SELECT t.relname, i.relname AS index, pg_get_indexdef(x.indexrelid) AS definition
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND x.indisunique AND NOT x.indisprimary
"""


async def _catalogue(url: Any) -> tuple[list[Any], list[Any], list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (
                (await conn.execute(text(TABLES))).all(),
                (await conn.execute(text(CONSTRAINTS))).all(),
                (await conn.execute(text(UNIQUE_INDEXES))).all(),
            )
    finally:
        await engine.dispose()


async def test_schema_is_ready_to_distribute_by_tenant(database_url):
    tables, constraints, indexes = await _catalogue(database_url)
    tenant = {t.relname for t in tables if t.tenant}
    others = {t.relname for t in tables if not t.tenant}
    problems: list[str] = []

    # every table is either a tenant table or listed
    unlisted = others - set(REFERENCE_TABLES) - set(LOCAL_TABLES)
    problems += [
        f"{t}: no tenant_id and not listed as a reference or local table" for t in unlisted
    ]
    assert tenant, "no tenant table found"

    primary = {c.relname for c in constraints if c.contype == "p"}
    for name in sorted(tenant - primary):
        problems.append(f"{name}: no primary key")
    for c in constraints:
        if c.relname not in tenant:
            if c.contype == "f" and c.ref in tenant:
                problems.append(f"{c.relname}.{c.conname}: points into tenant table {c.ref}")
            continue
        if c.contype in ("p", "u") and "tenant_id" not in c.cols:
            problems.append(f"{c.relname}.{c.conname}: {c.cols} lacks tenant_id")
        if c.contype == "f" and c.ref in tenant:
            if "tenant_id" not in c.cols or "tenant_id" not in c.refcols:
                problems.append(f"{c.relname}.{c.conname}: {c.cols} -> {c.ref} lacks tenant_id")
            elif c.cols.index("tenant_id") != c.refcols.index("tenant_id"):
                problems.append(f"{c.relname}.{c.conname}: tenant_id not matched to tenant_id")
    backed = {c.conname for c in constraints}
    for index in indexes:
        own = index.relname in tenant and index.index not in backed
        if own and "tenant_id" not in index.definition:
            problems.append(f"{index.relname}.{index.index}: unique index lacks tenant_id")
    for t in tables:
        if t.tenant and not (t.relrowsecurity and t.relforcerowsecurity):
            problems.append(f"{t.relname}: row-level security not enabled and forced")

    assert problems == [], "\n".join(problems)


async def test_the_walk_finds_what_it_looks_for(database_url):
    # the checks above see real constraints: a composite key and a composite foreign key
    _, constraints, _ = await _catalogue(database_url)
    spaces_pk = next(c for c in constraints if c.relname == "spaces" and c.contype == "p")
    assert spaces_pk.cols == ["tenant_id", "id"]
    blocks_fk = [c for c in constraints if c.relname == "blocks" and c.contype == "f"]
    assert any(c.ref == "spaces" and "tenant_id" in c.cols for c in blocks_fk)
