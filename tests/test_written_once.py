"""Rules written once, held there: the domain-event writer, `blockUpdate`, token minting.

Invariants:
- one writer of domain events: `app_emit_events` (migration 0015) is the only function of
  the database that inserts into `domain_events` but the fast lane's writes, which insert
  the row it would for their one event (migrations 0050, 0052: a call fewer a write), and
  no Python module writes the table itself; the event of a change is the same whichever path wrote it (`emit`, a
  one-statement update, the resolver's or the fast lane's `blockUpdate`);
- one `blockUpdate`: `app_block_update` is the only function that writes a block's body
  and the lane's function calls it (but a template's followers, which copy its bodies);
- one place mints credential rows (store/tokens.py `mint_token`): no other module builds
  an `ApiToken` or makes a secret, but a key's rotation (a new secret for its row).
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

from sqlalchemy import text

from core.db import owner_db
from core.ids import decode_id
from store.events import emit
from tests.factories import make_space

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "models", "store", "policies", "privacy", "compiler", "schema", "resolvers")
PACKAGES += ("microspace",)

UPDATE = """mutation U($id: ID!, $body: JSON!) { blockUpdate(input: {id: $id, body: $body}) {
    block { id } userErrors { code } } }"""
SPACE_UPDATE = """mutation S($id: ID!) { spaceUpdate(input: {id: $id, title: "Renamed"}) {
    space { id } userErrors { code } } }"""
FUNCTIONS = "SELECT proname FROM pg_proc WHERE prosrc ILIKE :pattern ORDER BY proname"


def _sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for pkg in PACKAGES
        for path in (ROOT / pkg).rglob("*.py")
    }


def _calls(source: str, name: str) -> int:
    return sum(
        1
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == name
    )


async def _functions(owner_engine, pattern: str) -> list[str]:
    async with owner_engine.connect() as conn:
        rows = await conn.execute(text(FUNCTIONS), {"pattern": pattern})
        return [r[0] for r in rows]


async def _events(owner_engine, tenant_id) -> list[tuple[str, dict]]:
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT topic, payload FROM domain_events WHERE tenant_id = :t ORDER BY created_at"
            ),
            {"t": tenant_id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_one_function_writes_domain_events(owner_engine):
    writers = await _functions(owner_engine, "%insert into domain_events%")
    lane_writes = ["app_block_add", "app_block_move", "app_block_update", "app_consent_grant"]
    assert writers == sorted([*lane_writes, "app_emit_events", "app_space_update"])
    for path, source in _sources().items():
        assert "insert into domain_events" not in source.lower(), path
        assert "insert(DomainEvent)" not in source, path


async def test_one_function_writes_a_block_body(owner_engine):
    assert await _functions(owner_engine, "%update blocks%set body%") == ["app_block_update"]
    # the lane calls it too, with the credential (migration 0021): no function wraps it
    assert await _functions(owner_engine, "%app_block_update(%") == []
    for path, source in _sources().items():
        if path == "store/templates.py":
            continue  # followers take their template's bodies, checked when the template was written
        if path == "resolvers/locales.py":
            # a locale's body (blocks.bodies), checked by store/block_bodies.py as every body
            # is; a new default takes a body already checked (docs/content.md, Locales)
            continue
        assert "update blocks" not in source.lower(), path


def test_one_place_mints_credentials():
    for path, source in _sources().items():
        if path == "store/tokens.py":
            continue
        assert _calls(source, "ApiToken") == 0, path
        # a rotation gives an existing key a new secret: the row is not minted again
        allowed = 1 if path == "resolvers/api_keys.py" else 0
        assert _calls(source, "new_token") == allowed, path


async def test_every_path_writes_the_same_event(app, api, new_tenant, owner_url, owner_engine):
    # given: a block and a space
    owner = await new_tenant("Events")
    space, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    lane = app.state.fast_lane
    answered = lane.answered

    # when: blockUpdate the whole way (the resolver), then through the fast lane; spaceUpdate
    # (a one-statement update); and `emit` itself, for the same objects
    for body in ({"text": "one"}, {"text": "two"}):
        result = await api(owner.token).post(UPDATE, {"id": blocks[0], "body": body})
        assert result.json()["data"]["blockUpdate"]["userErrors"] == []
    assert lane.answered == answered + 1
    assert "errors" not in await api(owner.token)(SPACE_UPDATE, {"id": space})
    async with owner_db(owner_url, owner.tenant_id) as db:
        await emit(db, "space.updated", decode_id(space, "Space"), ["title"], actor="member")
    async with owner_db(owner_url, owner.tenant_id) as db:
        await emit(db, "block.updated", decode_id(blocks[0], "Block"), ["body"], actor="member")

    # then: one shape, whichever path wrote it
    events = await _events(owner_engine, owner.tenant_id)
    assert [t for t, _ in events] == ["block.updated"] * 2 + ["space.updated"] * 2 + [
        "block.updated"
    ]
    resolver, lane_event, space_event, emitted_space, emitted_block = (p for _, p in events)
    assert resolver == lane_event == emitted_block
    assert resolver == {"type": "Block", "id": blocks[0], "fields": ["body"], "actor": "member"}
    assert space_event == emitted_space
    assert space_event == {"type": "Space", "id": space, "fields": ["title"], "actor": "member"}


async def test_emit_writes_one_event_per_object_in_one_statement(
    new_tenant, owner_url, owner_engine
):
    owner = await new_tenant("Many")
    ids = [uuid.uuid4() for _ in range(3)]
    async with owner_db(owner_url, owner.tenant_id) as db:
        await emit(db, "contact.created", ids)
        await emit(db, "contact.created", [])  # nothing to write
    events = await _events(owner_engine, owner.tenant_id)
    assert sorted(decode_id(p["id"], "Contact") for _, p in events) == sorted(ids)
    assert all(set(p) == {"type", "id", "fields"} and p["fields"] == [] for _, p in events)
