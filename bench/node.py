#!/usr/bin/env python3
"""`node(id:)` against `space(id:)`: 1, 3 and 10 lookups in one query, in process.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_node python bench/node.py

Seeds its own database on first use (created if missing, migrated, one tenant with 10
spaces of 5 blocks each; `--reseed` starts over), then sends each query one request at a
time through the ASGI app (no HTTP server) with the owner's token, after a warm-up (the
fast lane learns documents and tokens; `--whole-way` turns the lane off, `--resolvers`
the compiled path too), and prints a
table: wall-clock and CPU time per request, the least and the median over batches, since
a busy machine only adds time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lane import Shape, _call, _settings

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_node"
SPACES, BLOCKS = 10, 5
COUNTS = (1, 3, 10)
SELECTION = "id title status blocks(first: 5) { edges { node { id kind position body } } }"


def document(root: str, n: int) -> str:
    """n aliased lookups of one space each, by `node(id:)` or `space(id:)`."""
    args = ", ".join(f"$id{i}: ID!" for i in range(n))
    fields = []
    for i in range(n):
        if root == "node":
            fields.append(f"n{i}: node(id: $id{i}) {{ ... on Space {{ {SELECTION} }} }}")
        else:
            fields.append(f"n{i}: space(id: $id{i}) {{ {SELECTION} }}")
    return f"query Lookups({args}) {{ {' '.join(fields)} }}"


async def seed(url: str, reseed: bool) -> tuple[str, list[str]]:
    """The owner's token and the spaces' global IDs (kept beside the database's tag)."""
    from sqlalchemy.engine import make_url

    from core.db import owner_db
    from core.ids import encode_id
    from core.migrate import migrate
    from microspace.commands.tenants import create_tenant
    from models import Block, Space

    target = make_url(url)
    server = target.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg", "postgresql"))
    try:
        tag = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            target.database,
        )
        if tag is not None and not reseed:
            seeded = json.loads(tag)
            return seeded["token"], seeded["spaces"]
        await conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()
    owner = target.set(drivername="postgresql+asyncpg")
    await migrate(owner, os.environ.get("MICROSPACE_APP_DB_PASSWORD", "microspace"))
    created = await create_tenant(owner, "Node bench", "owner@node-bench.example.com")
    ids = [uuid.uuid4() for _ in range(SPACES)]
    async with owner_db(owner, created.tenant_id) as db:
        for i, sid in enumerate(ids):
            db.add(Space(id=sid, title=f"Space {i}", slug=f"space-{i}", description=""))
        await db.flush()
        for sid in ids:
            for p in range(BLOCKS):
                body = {"text": f"Block {p}", "level": 2}
                db.add(Block(space_id=sid, kind="heading", position=p, body=body))
        await db.flush()
    seeded = {"token": created.token, "spaces": [encode_id("Space", s) for s in ids]}
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg", "postgresql"))
    try:
        tag = json.dumps(seeded).replace("'", "''")
        await conn.execute(f"COMMENT ON DATABASE \"{target.database}\" IS '{tag}'")
    finally:
        await conn.close()
    return created.token, seeded["spaces"]


async def measure(
    app: Any, scope: dict[str, Any], body: bytes, batches: int, batch: int
) -> list[float]:
    """(least wall ms, median wall ms, least CPU ms) per request."""
    walls, cpus = [], []
    for _ in range(batches):
        began, cpu = time.perf_counter(), time.process_time()
        for _ in range(batch):
            status = await _call(app, scope, body)
            assert status == 200, status
        walls.append((time.perf_counter() - began) / batch * 1000)
        cpus.append((time.process_time() - cpu) / batch * 1000)
    return [min(walls), statistics.median(walls), min(cpus)]


async def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    _settings()
    token, spaces = await seed(os.environ["DATABASE_URL"], args.reseed)
    from microspace.asgi import create

    app = create()
    app.state.fast_lane.enabled = not (args.whole_way or args.resolvers)
    app.state.compiled_reads.enabled = not args.resolvers
    rows = []
    for root in ("node", "space"):
        for n in COUNTS:
            variables = {f"id{i}": spaces[i % len(spaces)] for i in range(n)}
            operation = {"query": document(root, n), "variables": variables}
            scope, body = Shape(None, get=False).scope(operation, token)
            for _ in range(args.warm_up):
                assert await _call(app, scope, body) == 200
            rows.append((root, n, await measure(app, scope, body, args.batches, args.batch)))
    print(
        f"{'lookups':>8} | {'way':<6} | {'wall ms (least)':>15} | {'wall ms (median)':>16} | "
        f"{'CPU ms':>7} | {'x one':>6} | {'x space':>7}"
    )
    by = {(root, n): m for root, n, m in rows}
    for root, n, (least, median, cpu) in rows:
        vs_one = least / by[(root, 1)][0]
        vs_space = least / by[("space", n)][0]
        print(
            f"{n:>8} | {root:<6} | {least:>15.2f} | {median:>16.2f} | {cpu:>7.2f} | "
            f"{vs_one:>6.2f} | {vs_space:>7.2f}"
        )
    lane = app.state.fast_lane
    print(f"fast lane answered {lane.answered}, missed {dict(lane.misses)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument(
        "--whole-way", action="store_true", help="the fast lane off: the stack, then compiled"
    )
    parser.add_argument("--resolvers", action="store_true", help="the resolver path only")
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=40)
    uvloop.run(main(parser.parse_args()))
