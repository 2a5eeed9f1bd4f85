#!/usr/bin/env python3
"""Seed the project (Microspace) with the benchmark's logical data set, in its own schema.

Run by the shared runner (bench/peer/system.conf SEED) from its work dir, with the project's
interpreter (it imports the project's code):

    $PROJECT_DIR/.venv/bin/python $PROJECT_DIR/bench/peer/load.py [--force]

What it does (skips the load when the database already carries this seed's tag and the
token file exists and matches its tenants; --force reloads):
1. drops and creates database `bench_microspace` on the bench cluster (owner: the superuser
   `postgres`, like docker-compose's POSTGRES_USER; the project's `migrate` must ALTER the
   application role NOSUPERUSER/NOBYPASSRLS, which PostgreSQL allows only to a superuser);
2. runs the project's own `microspace migrate` (creates role `microspace_app`, RLS);
3. creates the 20 tenants with `microspace tenant-create --name N --owner-email E` and
   keeps each owner's bearer token (shown once) in data/microspace_tokens.json;
4. inserts the identical data set that seed.py generates (same RNG, same UUIDs for spaces,
   blocks and contacts; tenant ids are the project's own) with COPY as the owner.
   Block bodies are mapped to the project's block kinds and normalised by the project's
   own `validate_body` (it refuses unknown keys), see KIND_MAP below;
5. writes data/microspace_params.tsv: the rows of data/params.tsv (same order) mapped to
   `project_tenant_id  SpaceGlobalID  BlockGlobalID  owner_token` (the runner sends the
   4th column as `Authorization: Bearer ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg

# the runner's work dir: its generator (seed.py) and its params; run from there
HERE = Path(os.environ.get("BENCH") or os.getcwd()).resolve()
sys.path.insert(0, str(HERE))
import seed

from core.ids import encode_id
from store.block_bodies import validate_body

DB = os.environ.get("PROJECT_DB", "bench_microspace")
PGPORT = os.environ.get("PGPORT", "55432")
SU_DSN = os.environ.get("PG_SUPERUSER_URL") or f"postgresql://postgres@127.0.0.1:{PGPORT}/postgres"
OWNER_DSN = f"postgresql://postgres@127.0.0.1:{PGPORT}/{DB}"
TAG = "microspace:" + seed.SEED_TAG + ":kindmap1"
TOKENS = HERE / "data" / "microspace_tokens.json"
PARAMS_IN = HERE / "data" / "params.tsv"
PARAMS_OUT = HERE / "data" / "microspace_params.tsv"
NS = uuid.UUID("6f1d3c8e-2b1a-4c7e-9a55-0b3e1d2c4f60")  # uuid5 namespace for space_access ids


def project_block(kind: str, body: dict) -> tuple[str, dict]:
    """The bench's kinds (paragraph, heading, image, quote, list, code) as the project's.

    The project has no paragraph/image/quote/list/code kinds; its `file` kind needs a file
    name, so every non-heading block becomes `rich_text` carrying the same words (markdown),
    which keeps body sizes close and lets one q3 body ({"text": ...}) be valid for every
    block (heading and rich_text both accept it)."""
    if kind == "heading":
        return "heading", validate_body("heading", body)
    if kind == "paragraph":
        text = body["text"]
    elif kind == "image":
        text = f"![{body['alt']}]({body['url']}) {body['width']}x{body['height']}"
    elif kind == "quote":
        text = f"> {body['text']}\n>\n> -- {body['cite']}"
    elif kind == "list":
        text = "\n".join(
            (f"{i + 1}. " if body["ordered"] else "- ") + it for i, it in enumerate(body["items"])
        )
    else:  # code
        text = f"```{body['language']}\n{body['source']}\n```"
    return "rich_text", validate_body("rich_text", {"format": "markdown", "text": text})


def cli(*args: str) -> str:
    env = dict(os.environ, DATABASE_URL=OWNER_DSN)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "microspace"), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


async def is_seeded() -> bool:
    conn = await asyncpg.connect(SU_DSN)
    try:
        tag = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", DB
        )
    finally:
        await conn.close()
    if tag != TAG or not TOKENS.exists():
        return False
    # the token file belongs to this load of the database (another work dir on the same
    # cluster may have reloaded it since: its tenants, and so these tokens, are then gone)
    ids = [c["tenant_id"] for c in json.loads(TOKENS.read_text()).values()]
    conn = await asyncpg.connect(OWNER_DSN)
    try:
        found = await conn.fetchval("SELECT count(*) FROM tenants WHERE id = ANY($1::uuid[])", ids)
    finally:
        await conn.close()
    if found != len(ids):
        print(f"[project_seed] {TOKENS} is from another load of {DB}: reloading")
        return False
    return True


async def load() -> None:
    t0 = time.time()
    conn = await asyncpg.connect(SU_DSN)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {DB} OWNER postgres")
    finally:
        await conn.close()
    print("[project_seed] " + cli("migrate"))
    tenants, spaces, blocks, contacts, links = seed.generate()
    tmap: dict[uuid.UUID, dict] = {}
    for i, (tid, name) in enumerate(tenants):
        created = json.loads(
            cli("tenant-create", "--name", name, "--owner-email", f"owner@t{i:02d}.example.com")
        )
        tmap[tid] = created
    print(f"[project_seed] {len(tmap)} tenants created with owner tokens ({time.time() - t0:.1f}s)")
    pt = {tid: uuid.UUID(c["tenant_id"]) for tid, c in tmap.items()}
    space_tenant = {s[0]: s[1] for s in spaces}
    contact_tenant = {c[0]: c[1] for c in contacts}
    conn = await asyncpg.connect(OWNER_DSN)  # superuser: COPY is not subject to RLS
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "spaces",
                columns=["tenant_id", "id", "title", "slug", "created_at", "updated_at"],
                records=[
                    (pt[t], sid, title, slug, created, created)
                    for sid, t, title, slug, created in spaces
                ],
            )
            recs = []
            for bid, t, sid, kind, pos, body in blocks:
                k, b = project_block(kind, json.loads(body))
                recs.append((pt[t], bid, sid, k, pos, json.dumps(b)))
            await conn.copy_records_to_table(
                "blocks",
                columns=["tenant_id", "id", "space_id", "kind", "position", "body"],
                records=recs,
            )
            await conn.copy_records_to_table(
                "contacts",
                columns=["tenant_id", "id", "email", "full_name", "company"],
                records=[(pt[t], cid, email, fn, co) for cid, t, email, fn, co in contacts],
            )
            await conn.copy_records_to_table(
                "space_access",
                columns=["tenant_id", "id", "space_id", "contact_id"],
                records=[
                    (pt[space_tenant[s]], uuid.uuid5(NS, f"{s}:{c}"), s, c)
                    for s, c in links
                    if space_tenant[s] == contact_tenant[c]
                ],
            )
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        counts = {
            t: await conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("tenants", "spaces", "blocks", "contacts", "space_access")
        }
    finally:
        await conn.close()
    TOKENS.parent.mkdir(parents=True, exist_ok=True)
    TOKENS.write_text(json.dumps({str(k): v for k, v in tmap.items()}, indent=1))
    conn = await asyncpg.connect(SU_DSN)
    try:
        await conn.execute(f"COMMENT ON DATABASE {DB} IS '{TAG}'")
    finally:
        await conn.close()
    print(f"[project_seed] {counts} in {time.time() - t0:.1f}s")


def write_params() -> None:
    tmap = json.loads(TOKENS.read_text())
    lines = []
    for line in PARAMS_IN.read_text().splitlines():
        t, s, b = line.split("\t")
        c = tmap[t]
        lines.append(
            f"{c['tenant_id']}\t{encode_id('Space', uuid.UUID(s))}\t"
            f"{encode_id('Block', uuid.UUID(b))}\t{c['token']}\n"
        )
    PARAMS_OUT.write_text("".join(lines))
    print(f"[project_seed] wrote {len(lines)} rows to {PARAMS_OUT}")


# the origin the shared bench's browser-shaped runs send (ORIGIN=https://app.example): each
# tenant allows it, as a customer's own frontend on that origin would be set up
BROWSER_ORIGIN = "https://app.example"


async def allow_browser_origin() -> None:
    conn = await asyncpg.connect(OWNER_DSN)
    try:
        await conn.execute(
            "UPDATE tenants SET cors_origins = array_append(cors_origins, $1) "
            "WHERE NOT ($1 = ANY(cors_origins))",
            BROWSER_ORIGIN,
        )
    finally:
        await conn.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    if a.force or not await is_seeded():
        await load()
    else:
        print(f"[project_seed] {DB} already seeded ({TAG}); --force (or RESEED=1) reloads")
        # a seeded database still takes the migrations added since it was loaded
        print("[project_seed] " + cli("migrate"))
    await allow_browser_origin()
    write_params()


if __name__ == "__main__":
    asyncio.run(main())
