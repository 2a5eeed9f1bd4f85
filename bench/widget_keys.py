#!/usr/bin/env python3
"""Widget keys for `bench/lane.py --widget`: the bench's q1 spaces published and bound to a
widget key per tenant, which a page on https://app.example may use.

    DATABASE_URL=postgresql://postgres@127.0.0.1:55432/bench_microspace \\
        python bench/widget_keys.py --params data/microspace_params.tsv --out data/widget_params.tsv

Writes the params rows with the tenant's widget key in place of the owner's token. Publishes
each space named in the params as `spacePublish` does (a revision, where the database has
them; before revisions, the status) and leaves every other row alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections import defaultdict
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.db import owner_db
from core.ids import decode_id
from store.tokens import mint_token

ORIGIN = "https://app.example"


async def _publish(db: object, tenant: uuid.UUID, space: uuid.UUID, revisions: bool) -> None:
    if revisions:
        await db.execute(  # type: ignore[attr-defined]
            text("SELECT app_space_publish(:t, :s, 'system', NULL, 'bench')"),
            {"t": tenant, "s": space},
        )
    else:
        await db.execute(  # type: ignore[attr-defined]
            text("UPDATE spaces SET status = 'published', published_at = now() WHERE id = :s"),
            {"s": space},
        )


async def main(args: argparse.Namespace) -> None:
    rows = [line.split("\t") for line in Path(args.params).read_text().splitlines() if line]
    spaces: dict[str, set[uuid.UUID]] = defaultdict(set)
    for tenant, space, _block, _token in rows:
        spaces[tenant].add(decode_id(space, "Space"))
    engine = create_async_engine(
        os.environ["DATABASE_URL"].replace("postgresql:", "postgresql+asyncpg:", 1)
    )
    keys: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            revisions = bool(
                await conn.scalar(
                    text(
                        "SELECT to_regprocedure('app_space_publish(uuid, uuid, text, uuid, text)') IS NOT NULL"
                    )
                )
            )
        for tenant, ids in spaces.items():
            async with owner_db(engine, uuid.UUID(tenant)) as db:
                for space in sorted(ids):
                    await _publish(db, uuid.UUID(tenant), space, revisions)
                _row, keys[tenant] = await mint_token(
                    db,
                    "widget",
                    name="bench widget",
                    space_ids=sorted(ids),
                    allowed_origins=[ORIGIN],
                )
    finally:
        await engine.dispose()
    out = "".join(f"{t}\t{s}\t{b}\t{keys[t]}\n" for t, s, b, _ in rows)
    Path(args.out).write_text(out)
    print(
        f"{len(keys)} widget keys, {sum(map(len, spaces.values()))} spaces published "
        f"({'revisions' if revisions else 'status'}); wrote {args.out}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="/tmp/microspace-bench/data/microspace_params.tsv")
    parser.add_argument("--out", default="/tmp/microspace-bench/data/widget_params.tsv")
    asyncio.run(main(parser.parse_args()))
