"""`node(id:)` lookups: their cost grows with their number as `space(id:)`'s does.

Ten aliased `node(id:)` fields took 45 ms against 4 ms through `space(id:)`: the compiled
statement joined one LATERAL per node type per lookup, and PostgreSQL's planning grew
faster than the number of lookups (bench/node.py measures it).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from core.ids import encode_id
from tests.factories import make_space, make_spaces
from tests.query_count import count_statements, raw_statements

SPACE = "id title blocks(first: 5) { edges { node { id position body } } }"


def lookups(root: str, ids: list[str]) -> tuple[str, dict[str, str]]:
    """One query of len(ids) aliased lookups by `node(id:)` or `space(id:)`."""
    selection = f"... on Space {{ {SPACE} }}" if root == "node" else SPACE
    fields = " ".join(f"n{i}: {root}(id: $id{i}) {{ {selection} }}" for i in range(len(ids)))
    args = ", ".join(f"$id{i}: ID!" for i in range(len(ids)))
    return f"query Lookups({args}) {{ {fields} }}", {f"id{i}": v for i, v in enumerate(ids)}


async def _spaces(new_tenant: Any, owner_url: Any, count: int) -> tuple[Any, list[str]]:
    tenant = await new_tenant()
    ids = await make_spaces(owner_url, tenant.tenant_id, count, blocks_each=5)
    return tenant, [encode_id("Space", s) for s in ids]


def _check(result: dict[str, Any], ids: list[str]) -> None:
    assert "errors" not in result, result
    for i, space_id in enumerate(ids):
        space = result["data"][f"n{i}"]
        assert space["id"] == space_id
        assert [e["node"]["position"] for e in space["blocks"]["edges"]] == [0, 1, 2, 3, 4]


async def test_ten_node_lookups_send_as_many_statements_as_one(
    api, new_tenant, owner_url, app_engine, read_path, monkeypatch
):
    tenant, spaces = await _spaces(new_tenant, owner_url, 10)
    call = api(tenant.token)
    await call("{ viewer { __typename } }")  # the token's first request records its sign-in
    raw = raw_statements(monkeypatch)  # the compiled path's statement, the lane's
    counts = {}
    for n in (1, 10):
        query, variables = lookups("node", spaces[:n])
        # the first request takes the whole way; the second, on the compiled path, the lane
        for attempt in ("first", "again"):
            before = len(raw)
            with count_statements(app_engine) as orm:
                result = await call(query, variables)
            _check(result, spaces[:n])
            counts[n, attempt] = len(orm) + len(raw) - before
    assert counts[10, "first"] == counts[1, "first"], counts
    assert counts[10, "again"] == counts[1, "again"], counts
    if read_path == "compiled":
        assert counts[1, "again"] == 1, counts  # one round trip: the lane's statement


async def test_node_lookups_name_any_type_each(api, new_tenant, owner_url, read_path):
    tenant = await new_tenant()
    space_id, block_ids = await make_space(owner_url, tenant.tenant_id, blocks=2)
    missing = encode_id("Space", uuid.uuid4())
    query = (
        "query Mixed($a: ID!, $b: ID!, $c: ID!, $d: ID!) { "
        "a: node(id: $a) { id ... on Space { title } } "
        "b: node(id: $b) { id ... on Block { position } } "
        "c: node(id: $c) { id } d: node(id: $d) { id } }"
    )
    ids = {"a": space_id, "b": block_ids[1], "c": missing, "d": "not-an-id"}
    call = api(tenant.token)
    for _ in range(2):  # the whole way, then (compiled) the lane
        result = await call(query, ids)
        assert result["data"] == {
            "a": {"id": space_id, "title": "Space 0"},
            "b": {"id": block_ids[1], "position": 1},
            "c": None,
            "d": None,
        }
        errors = {e["path"][0]: e["extensions"]["code"] for e in result["errors"]}
        assert errors == {"c": "NOT_FOUND", "d": "INVALID_ID"}


async def _plan(app_engine: AsyncEngine, sql: str, args: tuple[Any, ...]) -> Any:
    """PostgreSQL's plan of the compiled statement, as the application role plans it for
    its tenant (row-level security on)."""
    async with app_engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        async with raw.transaction():
            await raw.execute(f"SELECT set_config('app.tenant_id', '{args[0]}', true)")
            # the engine's connections decode json (SQLAlchemy's codec)
            return (await raw.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))[0]


def _joins(node: dict[str, Any]) -> int:
    own = 1 if node["Node Type"] in ("Nested Loop", "Hash Join", "Merge Join") else 0
    return own + sum(_joins(child) for child in node.get("Plans", ()))


async def test_node_lookups_are_planned_like_space_lookups(
    api, new_tenant, owner_url, app_engine, monkeypatch
):
    tenant, spaces = await _spaces(new_tenant, owner_url, 10)
    call = api(tenant.token)
    arguments: list[tuple[Any, ...]] = []
    sent = raw_statements(monkeypatch, arguments)
    plans = {}
    for root in ("node", "space"):
        query, variables = lookups(root, spaces)
        start = len(sent)
        _check(await call(query, variables), spaces)
        # the compiled path's statement (the first request takes the whole way)
        at = next(i for i in range(start, len(sent)) if "AS _root " in sent[i])
        plans[root] = (await _plan(app_engine, sent[at], arguments[at]))["Plan"]
    # as many relations to join as `space(id:)` has (not one per node type per lookup), and
    # estimates as low: no LLVM compilation on a server with JIT on, whatever the count
    assert _joins(plans["node"]) <= _joins(plans["space"])
    assert plans["node"]["Plan Rows"] == 1
    assert plans["node"]["Total Cost"] <= 1.5 * plans["space"]["Total Cost"]


async def test_node_lookups_send_the_branch_of_their_type_only(
    api, new_tenant, owner_url, monkeypatch
):
    """The statement holds, per lookup, the subquery of the type its ID names: one text per
    combination of types, prepared once on each connection (asyncpg keeps statements up to
    15 KiB; PostgreSQL plans a statement over every type's branch on every call)."""
    tenant, spaces = await _spaces(new_tenant, owner_url, 10)
    _, blocks = await make_space(owner_url, tenant.tenant_id, blocks=1)
    call = api(tenant.token)
    sent = raw_statements(monkeypatch)
    query, variables = lookups("node", spaces)
    await call(query, variables)  # the whole way: later requests take the lane
    texts = []
    for ids in (spaces, spaces[::-1], [*spaces[:9], blocks[0]], [*spaces[:9], "not-an-id"]):
        start = len(sent)
        result = await call(query, {f"id{i}": v for i, v in enumerate(ids)})
        assert result["data"]["n0"]["id"] == ids[0]
        texts.append(next(s for s in sent[start:] if "AS _root " in s))
    same_types, reversed_ids, one_block, one_invalid = texts
    assert same_types == reversed_ids
    assert len({same_types, one_block, one_invalid}) == 3
    assert same_types.count("= 'Space'") == 10 and "= 'Block'" not in same_types
    assert one_block.count("= 'Space'") == 9 and one_block.count("= 'Block'") == 1
    assert len(same_types) <= 15 * 1024
