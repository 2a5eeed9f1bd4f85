"""Lane writes sent together (microspace/lane/batches.py), through HTTP.

Invariants:
- writes that wait for a turn while every turn is taken are sent in one statement, and each
  request gets the answer the whole way gives to the same request: its own block, its own event, its tenant's rows
  only (a write of another tenant's block in the same statement writes nothing and gets
  NOT_FOUND, the other tenant's write in it goes through);
- a write that PostgreSQL refuses rolls back its statement, and the others in it are
  written alone: none fails for another's error; the refused one writes nothing;
- the statements and the writes they carried are counted in /metrics;
- a write alone, with a turn free, is sent at once in its own statement;
- a statement held up (a lock wait) does not hold the writes after it: past `stall`, a write
  that arrives starts another turn;
- the statement of a batch takes each copy's parameters in order, and only a statement that
  takes exactly its parameters is copied.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from core.ids import decode_id
from microspace.lane.batches import COLUMN, batch_sql
from tests.conftest import METRICS_AUTH, error_codes
from tests.factories import make_space

UPDATE = """mutation U($id: ID!, $body: JSON!) { blockUpdate(input: {id: $id, body: $body}) {
    block { id kind position body } userErrors { code message } } }"""
READ = "query($id: ID!) { block(id: $id) { body } }"
# a body PostgreSQL refuses (a trigger the test adds): valid for the server, so the lane
# sends it; the whole way's answer to it is an error, and nothing is written
REFUSED = "refused by the database"


def batches(app: Any) -> Any:
    return app.state.fast_lane.batches


async def _events(owner_engine: Any, tenant_id: uuid.UUID) -> list[Any]:
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM domain_events WHERE tenant_id = :t AND topic = :topic"),
            {"t": tenant_id, "topic": "block.updated"},
        )
        return [r[0] for r in rows]


async def _held(app: Any, sends: list[Any], expected: int) -> list[Any]:
    """The requests' answers, sent while the pool's gate is held: every lane write waits
    for a turn, and the gate is let go once `expected` of them wait."""
    gate = app.state.fast_lane.pipeline.gate
    held = 0
    while gate._value:  # every permit: no turn can start
        await gate.acquire()
        held += 1
    tasks = [asyncio.ensure_future(send) for send in sends]
    try:
        async with asyncio.timeout(10):
            while batches(app).waiting() < expected:
                await asyncio.sleep(0.005)
    finally:
        for _ in range(held):
            gate.release()
    return list(await asyncio.gather(*tasks))


async def _warm(api: Any, token: str, block: str) -> None:
    """The document learned and the credential remembered: the next write takes the lane."""
    for n in range(2):
        answer = await api(token)(UPDATE, {"id": block, "body": {"text": f"warm {n}"}})
        assert answer["data"]["blockUpdate"]["userErrors"] == []


async def test_writes_that_wait_for_a_turn_are_sent_in_one_statement(
    app: Any, api: Any, client: Any, new_tenant: Any, owner_url: str, owner_engine: Any
) -> None:
    one, two = await new_tenant("BatchOne"), await new_tenant("BatchTwo")
    _, mine = await make_space(owner_url, one.tenant_id, blocks=3)
    _, theirs = await make_space(owner_url, two.tenant_id, blocks=2)
    await _warm(api, one.token, mine[0])
    await _warm(api, two.token, theirs[0])
    events = (
        len(await _events(owner_engine, one.tenant_id)),
        len(await _events(owner_engine, two.tenant_id)),
    )
    statements, writes = batches(app).statements, batches(app).writes
    sends = [
        api(one.token)(UPDATE, {"id": mine[0], "body": {"text": "one 0"}}),
        api(two.token)(UPDATE, {"id": theirs[0], "body": {"text": "two 0"}}),
        # another tenant's block, in the same statement as that tenant's own write
        api(one.token)(UPDATE, {"id": theirs[1], "body": {"text": "not yours"}}),
        api(one.token)(UPDATE, {"id": mine[1], "body": {"text": "one 1"}}),
        api(two.token)(UPDATE, {"id": theirs[1], "body": {"text": "two 1"}}),
        api(one.token)(UPDATE, {"id": mine[2], "body": {"text": "one 2"}}),
    ]
    answers = await _held(app, sends, expected=len(sends))
    assert batches(app).statements == statements + 1
    assert batches(app).writes == writes + len(sends)
    text = (await client.get("/metrics", headers=METRICS_AUTH)).text
    for series, count in [
        ("microspace_fast_lane_write_statements_total", batches(app).statements),
        ("microspace_fast_lane_batched_writes_total", batches(app).writes),
    ]:
        assert re.search(rf"^{series} {count}(\.0)?$", text, re.MULTILINE), series
    expected = [(mine[0], "one 0"), (theirs[0], "two 0"), None, (mine[1], "one 1")]
    expected += [(theirs[1], "two 1"), (mine[2], "one 2")]
    for answer, want in zip(answers, expected, strict=True):
        if want is None:
            assert error_codes(answer) == ["NOT_FOUND"]
            continue
        payload = answer["data"]["blockUpdate"]
        assert payload["userErrors"] == []
        assert (payload["block"]["id"], payload["block"]["body"]["text"]) == want
    # each answer is the whole way's to the same request (the body written again)
    tokens = [one.token, two.token, one.token, one.token, two.token, one.token]
    variables = [
        {"id": b, "body": {"text": t}} for b, t in [w or (theirs[1], "not yours") for w in expected]
    ]
    app.state.fast_lane.enabled = False
    try:
        for token, given, answer in zip(tokens, variables, answers, strict=True):
            assert await api(token)(UPDATE, given) == answer
    finally:
        app.state.fast_lane.enabled = True
    # written for each its own, and the foreign write wrote nothing
    for token, block, body in [
        (one.token, mine[1], "one 1"),
        (two.token, theirs[1], "two 1"),
        (two.token, theirs[0], "two 0"),
    ]:
        assert (await api(token)(READ, {"id": block}))["data"]["block"]["body"]["text"] == body
    assert len(await _events(owner_engine, one.tenant_id)) == events[0] + 3 + 3
    assert len(await _events(owner_engine, two.tenant_id)) == events[1] + 2 + 2


@pytest.fixture
async def refusing(owner_engine: Any) -> Any:
    """A trigger that refuses one body text (only that text: other tests go on)."""
    name = f"refuse_{uuid.uuid4().hex[:8]}"
    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.body ->> 'text' = '{REFUSED}' THEN "
                "RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        await conn.execute(
            text(
                f"CREATE TRIGGER {name} BEFORE UPDATE ON blocks FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        )
    yield
    async with owner_engine.begin() as conn:
        await conn.execute(text(f"DROP TRIGGER {name} ON blocks"))
        await conn.execute(text(f"DROP FUNCTION {name}()"))


async def test_a_write_refused_in_its_statement_fails_alone(
    app: Any, api: Any, new_tenant: Any, owner_url: str, owner_engine: Any, refusing: Any
) -> None:
    owner = await new_tenant("BatchRefused")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=3)
    await _warm(api, owner.token, blocks[0])
    before = len(await _events(owner_engine, owner.tenant_id))
    statements, writes = batches(app).statements, batches(app).writes
    undone = batches(app).undone
    bodies = ["kept 0", REFUSED, "kept 2"]
    sends = [
        api(owner.token)(UPDATE, {"id": block, "body": {"text": body}})
        for block, body in zip(blocks, bodies, strict=True)
    ]
    answers = await _held(app, sends, expected=3)
    # the statement of three rolled back; two statements of one committed
    assert batches(app).undone == undone + 1
    assert batches(app).statements == statements + 2
    assert batches(app).writes == writes + 2
    for answer, block, body in zip(answers, blocks, bodies, strict=True):
        read = (await api(owner.token)(READ, {"id": block}))["data"]["block"]["body"]["text"]
        if body == REFUSED:
            assert answer.get("errors") and not (answer.get("data") or {}).get("blockUpdate")
            assert read != REFUSED
        else:
            assert answer["data"]["blockUpdate"]["block"]["body"]["text"] == body
            assert read == body
    assert len(await _events(owner_engine, owner.tenant_id)) == before + 2


async def test_a_write_with_a_turn_free_is_sent_alone_at_once(
    app: Any, api: Any, new_tenant: Any, owner_url: str
) -> None:
    owner = await new_tenant("BatchAlone")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    await _warm(api, owner.token, blocks[0])
    statements, writes = batches(app).statements, batches(app).writes
    answer = await api(owner.token)(UPDATE, {"id": blocks[0], "body": {"text": "alone"}})
    assert answer["data"]["blockUpdate"]["block"]["body"]["text"] == "alone"
    assert (batches(app).statements, batches(app).writes) == (statements + 1, writes + 1)
    assert batches(app).waiting() == 0


async def test_a_statement_held_up_by_a_lock_does_not_hold_the_next_writes(
    app: Any, api: Any, new_tenant: Any, owner_url: str, owner_engine: Any
) -> None:
    owner = await new_tenant("BatchStall")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=2)
    await _warm(api, owner.token, blocks[0])
    held, free = blocks
    async with owner_engine.connect() as conn:
        await conn.begin()  # a transaction that holds the block's row, as a long one may
        await conn.execute(
            text("SELECT 1 FROM blocks WHERE tenant_id = :t AND id = :id FOR UPDATE"),
            {"t": owner.tenant_id, "id": decode_id(held, "Block")},
        )
        stuck = asyncio.ensure_future(
            api(owner.token)(UPDATE, {"id": held, "body": {"text": "after the lock"}})
        )
        await asyncio.sleep(batches(app).stall * 4)
        assert not stuck.done()
        async with asyncio.timeout(5):  # not behind the statement that waits for the lock
            passed = await api(owner.token)(UPDATE, {"id": free, "body": {"text": "past it"}})
        assert passed["data"]["blockUpdate"]["block"]["body"]["text"] == "past it"
        assert not stuck.done()
        await conn.commit()
    written = await asyncio.wait_for(stuck, 10)
    assert written["data"]["blockUpdate"]["block"]["body"]["text"] == "after the lock"


def test_each_copy_takes_its_own_parameters_in_order() -> None:
    sql = "SELECT f($1, $2::uuid, $3) AS r WHERE $1 IS NOT NULL"
    made = batch_sql(sql, 3, 3)
    copies = made.split("\nUNION ALL ")
    assert len(copies) == 3
    assert copies[0] == f"SELECT 0 AS {COLUMN}, b.* FROM ({sql}) AS b"
    assert "f($4, $5::uuid, $6)" in copies[1] and "WHERE $4 IS NOT NULL" in copies[1]
    assert "f($7, $8::uuid, $9)" in copies[2] and copies[2].startswith(f"SELECT 2 AS {COLUMN}")
    assert "$10" not in made


@pytest.mark.parametrize("parameters", [2, 4])
def test_a_statement_that_does_not_take_exactly_its_parameters_is_not_copied(
    parameters: int,
) -> None:
    with pytest.raises(ValueError, match="exactly its parameters"):
        batch_sql("SELECT f($1, $3)", parameters, 2)


SPACE_UPDATE = """mutation S($id: ID!, $title: String!) { spaceUpdate(input: {id: $id, title: $title}) {
    space { id title } userErrors { code } } }"""


async def test_space_updates_of_two_tenants_in_one_statement_are_each_their_own(
    app: Any, api: Any, new_tenant: Any, owner_url: str
) -> None:
    one, two = await new_tenant("SpaceOne"), await new_tenant("SpaceTwo")
    spaces = [(await make_space(owner_url, t.tenant_id, blocks=0))[0] for t in (one, two)]
    for (token, space), n in [
        ((t.token, s), n) for t, s in zip((one, two), spaces) for n in range(2)
    ]:
        await api(token)(SPACE_UPDATE, {"id": space, "title": f"warm {n}"})
    statements = batches(app).statements
    sends = [
        api(one.token)(SPACE_UPDATE, {"id": spaces[0], "title": "Mine"}),
        api(one.token)(SPACE_UPDATE, {"id": spaces[1], "title": "Not mine"}),
        api(two.token)(SPACE_UPDATE, {"id": spaces[1], "title": "Theirs"}),
    ]
    mine, foreign, theirs = await _held(app, sends, expected=3)
    assert batches(app).statements == statements + 1
    assert mine["data"]["spaceUpdate"]["space"] == {"id": spaces[0], "title": "Mine"}
    assert theirs["data"]["spaceUpdate"]["space"] == {"id": spaces[1], "title": "Theirs"}
    assert error_codes(foreign) == ["NOT_FOUND"]
    read = await api(two.token)("query($id: ID!) { space(id: $id) { title } }", {"id": spaces[1]})
    assert read["data"]["space"]["title"] == "Theirs"
