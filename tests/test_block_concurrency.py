"""Block order under concurrency.

Invariants:
- concurrent add, move and remove requests on one space leave positions 0..n-1, with no gaps
  and no duplicates, whatever the interleaving;
- the database itself refuses two blocks at one position of a space;
- moving or updating a block that a concurrent request deleted answers NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.ids import decode_id
from tests.conftest import error_codes
from tests.factories import make_space

ADD = """mutation($s: ID!) { blockAdd(input: {spaceId: $s, kind: "heading", body: {text: "x"}}) {
    block { id } userErrors { code } } }"""
MOVE = """mutation($b: ID!, $p: Int!) { blockMove(input: {id: $b, position: $p}) {
    block { id } userErrors { code } } }"""
REMOVE = "mutation($b: ID!) { blockRemove(id: $b) { deletedBlockId } }"
UPDATE = """mutation($b: ID!) { blockUpdate(input: {id: $b, body: {text: "y"}}) {
    block { id } userErrors { code } } }"""


async def _positions(owner_engine, space_id: str) -> list[int]:
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT position FROM blocks WHERE space_id = :s ORDER BY position"),
            {"s": decode_id(space_id, "Space")},
        )
        return [r[0] for r in rows]


@pytest.mark.parametrize("run", range(3))
async def test_concurrent_add_move_remove_keep_positions_dense(
    run, api, new_tenant, owner_url, owner_engine
):
    # given: a space with 10 blocks
    tenant = await new_tenant()
    owner = api(tenant.token)
    space_id, blocks = await make_space(owner_url, tenant.tenant_id, blocks=10)
    rng = random.Random(run)

    # when: 50 mixed requests at once
    def request(i: int):
        kind = rng.choice(["add", "move", "move", "remove"])
        if kind == "add":
            return owner.post(ADD, {"s": space_id})
        block = rng.choice(blocks)
        if kind == "move":
            return owner.post(MOVE, {"b": block, "p": rng.randrange(0, 8)})
        return owner.post(REMOVE, {"b": block})

    responses = await asyncio.gather(*(request(i) for i in range(50)))

    # then: every request got a clear answer, and the order is dense
    for response in responses:
        assert response.status_code == 200, response.text
        codes = error_codes(response.json())
        assert set(codes) <= {"NOT_FOUND"}, response.text
    positions = await _positions(owner_engine, space_id)
    assert positions == list(range(len(positions))), positions


async def test_database_refuses_two_blocks_at_one_position(new_tenant, owner_url, owner_engine):
    tenant = await new_tenant()
    _space, blocks = await make_space(owner_url, tenant.tenant_id, blocks=2)
    with pytest.raises(IntegrityError):
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
            )
            await conn.execute(
                text("UPDATE blocks SET position = 0 WHERE id = :b"),
                {"b": decode_id(blocks[1], "Block")},
            )


@pytest.mark.parametrize("mutation", [MOVE, UPDATE])
async def test_changing_a_block_deleted_meanwhile_is_not_found(
    mutation, api, new_tenant, owner_url, owner_engine
):
    # given: a block whose space another transaction holds locked while it deletes the block
    tenant = await new_tenant()
    owner = api(tenant.token)
    space_id, blocks = await make_space(owner_url, tenant.tenant_id, blocks=3)
    block_uuid = decode_id(blocks[0], "Block")
    async with owner_engine.connect() as conn:
        tx = await conn.begin()
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        await conn.execute(
            text("SELECT 1 FROM spaces WHERE id = :s FOR UPDATE"),
            {"s": decode_id(space_id, "Space")},
        )
        await conn.execute(text("SELECT 1 FROM blocks WHERE id = :b FOR UPDATE"), {"b": block_uuid})
        # when: the move starts, reads the block, and waits on the lock; then the delete commits
        pending = asyncio.ensure_future(owner.post(mutation, {"b": blocks[0], "p": 1}))
        await asyncio.sleep(0.5)
        await conn.execute(text("DELETE FROM blocks WHERE id = :b"), {"b": block_uuid})
        await conn.execute(
            text("UPDATE blocks SET position = position - 1 WHERE space_id = :s"),
            {"s": decode_id(space_id, "Space")},
        )
        await tx.commit()
    response = await pending

    # then
    assert response.status_code == 200, response.text
    assert error_codes(response.json()) == ["NOT_FOUND"], response.text
    assert await _positions(owner_engine, space_id) == [0, 1]
