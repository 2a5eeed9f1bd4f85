"""A block's body kept as the API writes JSON (`blocks.body_compact`, migration 0034): the
same text as orjson writes after parsing what PostgreSQL writes, or NULL where it could
not be made; both read paths answer the same bytes either way."""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import owner_db
from core.ids import encode_id
from models import Block
from tests.factories import _owner, make_spaces

STRINGS = [
    "",
    "plain",
    'a "quoted" word',
    'ends with a quote"',
    "back\\slash",
    "ends with a backslash\\",
    '\\"',
    "a, b: c",
    '", "',
    '": "',
    ": null",
    "line\nbreak\ttab\r\b\f",
    "control \x1f and \x7f",
    "é ü 漢字 😀 \u2028 \u2029",
    "/slash/",
    "1.5",
    "version 2.50 of 1234567890123456789",
]
NUMBERS = [0, 1, -1, 42, 10**17, -(10**17), 1.5, 2.0, -0.25, 1e20, 1e-7]


def _value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(7 if depth < 3 else 3)
    if pick == 0:
        return rng.choice(STRINGS) + rng.choice(STRINGS)
    if pick == 1:
        return rng.choice(NUMBERS) if rng.random() < 0.3 else rng.choice(NUMBERS[:6])
    if pick == 2:
        return rng.choice([True, False, None])
    if pick in (3, 4, 5):
        return {
            rng.choice(STRINGS) + str(i): _value(rng, depth + 1) for i in range(rng.randrange(4))
        }
    return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _as_the_api_writes(stored: str) -> str:
    """What the resolver path sends for a JSON column PostgreSQL wrote as `stored`."""
    return orjson.dumps(orjson.loads(stored)).decode()


async def test_compact_text_is_what_the_api_writes(owner_engine: AsyncEngine) -> None:
    rng = random.Random(32)
    values = [_value(rng) for _ in range(2000)]
    values += [{"text": s, "format": "markdown", "level": 2} for s in STRINGS]
    async with owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT v::jsonb::text, app_json_compact(v::jsonb) "
                    "FROM unnest(CAST(:vs AS text[])) WITH ORDINALITY AS t(v, n) ORDER BY n"
                ),
                {"vs": [orjson.dumps(v).decode() for v in values]},
            )
        ).all()
    made = [(stored, compact) for stored, compact in rows if compact is not None]
    for stored, compact in made:
        assert compact == _as_the_api_writes(stored), stored
    # made for most, and for every body of plain text
    assert len(made) > len(rows) // 3, len(made)
    assert all(compact is not None for _, compact in rows[-len(STRINGS) :])
    # not made where json_strip_nulls or a parse would change it
    nulls = {
        stored: compact
        for stored, compact in rows
        if any(f": {n}" in stored for n in ("null,", "null}", "1.5", "2.0", "-0.25"))
    }
    assert nulls and set(nulls.values()) == {None}


async def test_every_write_of_a_body_keeps_its_compact_text(owner_url, new_tenant) -> None:
    tenant = await new_tenant()
    (space,) = await make_spaces(owner_url, tenant.tenant_id, 1)
    block = uuid.uuid4()
    async with owner_db(_owner(owner_url), tenant.tenant_id) as db:
        db.add(Block(id=block, space_id=space, kind="heading", position=0, body={"text": "A"}))
        await db.flush()
        assert await _compact(db, block) == '{"text":"A"}'
        await db.execute(
            text("UPDATE blocks SET body = CAST(:b AS jsonb) WHERE id = :id"),
            {"b": '{"text": "B, \\"quoted\\"", "level": 3}', "id": block},
        )
        assert await _compact(db, block) == '{"text":"B, \\"quoted\\"","level":3}'
        # a write of the column itself is made again from the body
        await db.execute(
            text("UPDATE blocks SET body_compact = 'forged' WHERE id = :id"), {"id": block}
        )
        assert await _compact(db, block) == '{"text":"B, \\"quoted\\"","level":3}'
        await db.execute(
            text("UPDATE blocks SET body = CAST(:b AS jsonb) WHERE id = :id"),
            {"b": '{"text": "C", "ratio": 2.50}', "id": block},
        )
        assert await _compact(db, block) is None


async def _compact(db: Any, block: uuid.UUID) -> str | None:
    found: str | None = await db.scalar(
        text("SELECT body_compact FROM blocks WHERE id = :id"), {"id": block}
    )
    return found


BODIES = """query Bodies($id: ID!) {
  space(id: $id) { blocks(first: 10) { edges { node { id body } } } }
}"""


async def test_both_read_paths_send_the_same_bodies(app, client, owner_url, new_tenant) -> None:
    """Bodies with and without their compact text (a null member, a fraction, an escaped
    control character), in one answer: the same bytes from both read paths."""
    tenant = await new_tenant()
    (space,) = await make_spaces(owner_url, tenant.tenant_id, 1)
    url = "https://example.com/a?b=1"
    bodies = [
        {"url": url, "text": 'plain, "quoted"', "level": 2},
        {"url": url, "text": "a null member", "caption": None},
        {"url": url, "text": "a fraction", "ratio": 2.5, "exact": 1.0},
        {"url": url, "text": "control \x01 character", "items": [1, None, True]},
        {"url": url, "text": "é 漢字 😀 \u2028"},
    ]
    async with owner_db(_owner(owner_url), tenant.tenant_id) as db:
        for position, body in enumerate(bodies):
            db.add(
                Block(id=uuid.uuid4(), space_id=space, kind="embed", position=position, body=body)
            )
        await db.flush()
        made = await db.scalars(
            text("SELECT body_compact IS NOT NULL FROM blocks WHERE space_id = :s"), {"s": space}
        )
        assert sorted(made) == [False, False, True, True, True]
    reads = app.state.compiled_reads
    answers = []
    payload = {"query": BODIES, "variables": {"id": encode_id("Space", space)}}
    headers = {"Authorization": f"Bearer {tenant.token}"}
    for compiled in (True, False):
        reads.enabled = compiled
        before = reads.compiled
        try:
            answers.append(await client.post("/graphql", json=payload, headers=headers))
        finally:
            reads.enabled = True
        assert (reads.compiled > before) is compiled  # each path answered once
    by_compiler, by_resolvers = answers
    assert by_resolvers.status_code == 200 and "errors" not in by_resolvers.json()
    edges = by_resolvers.json()["data"]["space"]["blocks"]["edges"]
    assert [e["node"]["body"] for e in edges] == bodies
    assert by_compiler.content == by_resolvers.content
