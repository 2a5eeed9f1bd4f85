"""Differential tests of the compiled writes (compiler/writes.py): the fast lane's answer and
side effects are the resolver path's.

Each case runs on twin tenants made alike: tenant A through the resolver path (the lane
off), tenant B through the fast lane (the document and B's credentials already known, by
the same write before in both).
The answers must be the same once A's IDs are read as B's, and so must the rows each
write left (spaces, blocks), the domain events and the audit entries. A case the lane
answers must be answered by it (its counter moves); a refusal (a foreign or unknown ID,
a malformed ID, an invalid value, a denied role, input the form does not take) must go
the whole way, with nothing written by the lane.

None of these writes has a plan limit (limits count spaces, contacts, keys and e-mail:
store/plans.py), so no case here meets one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text

from core.ids import encode_id
from tests.factories import make_spaces

SPACES, BLOCKS = 2, 3


def lane(app):
    return app.state.fast_lane


@dataclass
class Twin:
    """One tenant of a pair: its owner, a viewer, and its spaces and blocks in order."""

    tenant_id: uuid.UUID
    token: str
    viewer: str
    spaces: list[uuid.UUID]
    blocks: list[list[uuid.UUID]]
    members: list[uuid.UUID] = field(default_factory=list)

    def space(self, i: int) -> str:
        return encode_id("Space", self.spaces[i])

    def block(self, s: int, b: int) -> str:
        return encode_id("Block", self.blocks[s][b])


async def _twin(new_tenant, new_member, owner_engine, owner_url, name: str) -> Twin:
    owner = await new_tenant(name)
    viewer = await new_member(owner.tenant_id, "viewer")
    spaces = await make_spaces(owner_url, owner.tenant_id, SPACES, BLOCKS)
    blocks = []
    async with owner_engine.connect() as conn:
        for sid in spaces:
            rows = await conn.execute(
                text("SELECT id FROM blocks WHERE space_id = :s ORDER BY position"), {"s": sid}
            )
            blocks.append([r[0] for r in rows])
    members = [owner.member_id, viewer.member_id]
    return Twin(owner.tenant_id, owner.token, viewer.token, spaces, blocks, members)


def _mapping(a: Twin, b: Twin) -> dict[str, str]:
    """A's identifiers as B's, in every spelling a row or an answer holds."""
    pairs = [(a.tenant_id, b.tenant_id, "Tenant"), *zip(a.members, b.members, ["Member"] * 2)]
    pairs += [(x, y, "Space") for x, y in zip(a.spaces, b.spaces, strict=True)]
    for xs, ys in zip(a.blocks, b.blocks, strict=True):
        pairs += [(x, y, "Block") for x, y in zip(xs, ys, strict=True)]
    out = {}
    for x, y, type_name in pairs:
        out[str(x)] = str(y)
        out[x.hex[:12]] = y.hex[:12]  # slugs (tests/factories.py)
        out[encode_id(type_name, x)] = encode_id(type_name, y)
    return out


def _pair_new_blocks(mapping: dict[str, str], a: dict[str, Any], b: dict[str, Any]) -> None:
    """Blocks added since the twins were made, A's as B's: the one at the same place."""
    places = {(space, position): block for block, space, _, position, _ in b["blocks"]}
    for block, space, _, position, _ in a["blocks"]:
        if block not in mapping and mapping.get(space) is not None:
            twin = places.get((mapping[space], position))
            if twin is not None:
                x, y = uuid.UUID(block), uuid.UUID(twin)
                mapping[block] = twin
                mapping[encode_id("Block", x)] = encode_id("Block", y)


def _as_b(value: Any, mapping: dict[str, str]) -> Any:
    raw = json.dumps(value, sort_keys=True, default=str)
    for x, y in mapping.items():
        raw = raw.replace(x, y)
    return json.loads(raw)


def _rows(state: dict[str, Any]) -> dict[str, Any]:
    """The rows as sets (the twins' IDs sort differently), the audit entries in order."""
    return {
        k: v if k == "audit" else sorted(v, key=lambda r: json.dumps(r, sort_keys=True))
        for k, v in state.items()
    }


def _timeless(value: Any) -> Any:
    """Without instants (`createdAt`, `updatedAt`, ...): two writes never share them."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if not k.endswith("At")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


STATE = {
    "spaces": "SELECT id, title, slug, description, status FROM spaces "
    "WHERE tenant_id = :t ORDER BY title, slug",
    "blocks": "SELECT id, space_id, kind, position, body FROM blocks "
    "WHERE tenant_id = :t ORDER BY space_id, position",
    "events": "SELECT topic, payload FROM domain_events WHERE tenant_id = :t "
    "ORDER BY created_at, topic, payload::text",
    "audit": "SELECT principal_kind, operation, subject_contact_ids, fields FROM audit_log "
    "WHERE tenant_id = :t AND operation <> 'read' ORDER BY seq",
}


async def _state(owner_engine, tenant_id: uuid.UUID) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with owner_engine.connect() as conn:
        for name, sql in STATE.items():
            rows = await conn.execute(text(sql), {"t": tenant_id})
            out[name] = [[str(v) if isinstance(v, uuid.UUID) else v for v in r] for r in rows]
    return json.loads(json.dumps(out, default=str))


SPACE_UPDATE = """mutation SU($input: SpaceUpdateInput!) { spaceUpdate(input: $input) {
    space { id title slug description status } userErrors { code field message } } }"""
SPACE_UPDATE_LITERAL = """mutation SL($id: ID!) { spaceUpdate(input: {id: $id, title: "Fixed"}) {
    __typename space { __typename id title } userErrors { code } } }"""

BLOCK_MOVE = """mutation BM($id: ID!, $p: Int!) { blockMove(input: {id: $id, position: $p}) {
    block { id kind position body space { id } } userErrors { code field message } } }"""

BLOCK_ADD = """mutation BA($s: ID!, $k: BlockKind, $b: JSON, $p: Int) {
    blockAdd(input: {spaceId: $s, kind: $k, body: $b, position: $p}) {
    block { kind position body space { id } } userErrors { code field message } } }"""
BLOCK_ADD_CONTENT = """mutation BC($s: ID!) { blockAdd(input: {spaceId: $s,
    content: {heading: {text: "Typed"}}}) { block { kind position body } userErrors { code } } }"""


def _add(space: Callable[[Twin, Twin], str], **more: Any) -> Callable[[Twin, Twin], dict]:
    return lambda w, x: {"s": space(w, x), "k": "HEADING", "b": {"text": "New"}, **more}


@dataclass(frozen=True)
class Case:
    name: str
    document: str
    variables: Callable[[Twin, Twin], dict[str, Any]]  # (this twin, a third tenant's)
    laned: bool  # answered by the lane (else the whole way)
    token: str = "token"  # the twin's credential sending it
    learned: str | None = None  # the text the twins learn, when not `document`


CASES = [
    Case(
        "spaceUpdate title and description",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": w.space(0), "title": "  New  ", "description": "D"}},
        True,
    ),
    Case(
        "spaceUpdate description only",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": w.space(1), "description": "Only this"}},
        True,
    ),
    Case(
        "spaceUpdate literal input",
        SPACE_UPDATE_LITERAL,
        lambda w, x: {"id": w.space(0)},
        True,
    ),
    Case(
        "spaceUpdate a new literal of a learned text",
        SPACE_UPDATE_LITERAL.replace('"Fixed"', '"Another"'),
        lambda w, x: {"id": w.space(1)},
        True,
        learned=SPACE_UPDATE_LITERAL,
    ),
    Case(
        "spaceUpdate a slug (may collide)",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": w.space(0), "slug": "space-" + w.spaces[1].hex[:12]}},
        False,
    ),
    Case(
        "spaceUpdate nothing to change",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": w.space(0)}},
        False,
    ),
    Case(
        "spaceUpdate empty title",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": w.space(0), "title": "   "}},
        False,
    ),
    Case(
        "spaceUpdate title too long",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": w.space(0), "title": "x" * 201}},
        False,
    ),
    Case(
        "spaceUpdate another tenant's space",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": x.space(0), "title": "Hijacked"}},
        False,
    ),
    Case(
        "spaceUpdate unknown space",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": encode_id("Space", uuid.UUID(int=7)), "title": "T"}},
        False,
    ),
    Case(
        "spaceUpdate a block's ID",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": w.block(0, 0), "title": "T"}},
        False,
    ),
    Case(
        "spaceUpdate malformed ID",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": "not-an-id", "title": "T"}},
        False,
    ),
    Case(
        "spaceUpdate by a viewer",
        SPACE_UPDATE,
        lambda w, x: {"input": {"id": w.space(0), "title": "T"}},
        False,
        token="viewer",
    ),
    Case("blockMove down", BLOCK_MOVE, lambda w, x: {"id": w.block(0, 0), "p": 2}, True),
    Case("blockMove up", BLOCK_MOVE, lambda w, x: {"id": w.block(1, 2), "p": 0}, True),
    Case("blockMove in place", BLOCK_MOVE, lambda w, x: {"id": w.block(0, 1), "p": 1}, True),
    Case("blockMove past the end", BLOCK_MOVE, lambda w, x: {"id": w.block(0, 1), "p": 3}, False),
    Case("blockMove negative", BLOCK_MOVE, lambda w, x: {"id": w.block(0, 1), "p": -1}, False),
    Case(
        "blockMove another tenant's block",
        BLOCK_MOVE,
        lambda w, x: {"id": x.block(0, 0), "p": 1},
        False,
    ),
    Case(
        "blockMove unknown block",
        BLOCK_MOVE,
        lambda w, x: {"id": encode_id("Block", uuid.UUID(int=9)), "p": 0},
        False,
    ),
    Case("blockMove a space's ID", BLOCK_MOVE, lambda w, x: {"id": w.space(0), "p": 0}, False),
    Case("blockMove malformed ID", BLOCK_MOVE, lambda w, x: {"id": "%%%", "p": 0}, False),
    Case(
        "blockMove by a viewer",
        BLOCK_MOVE,
        lambda w, x: {"id": w.block(0, 0), "p": 1},
        False,
        token="viewer",
    ),
    Case("blockAdd at the end", BLOCK_ADD, _add(lambda w, x: w.space(0)), True),
    Case("blockAdd at the start", BLOCK_ADD, _add(lambda w, x: w.space(1), p=0), True),
    Case("blockAdd in the middle", BLOCK_ADD, _add(lambda w, x: w.space(0), p=2), True),
    Case(
        "blockAdd rich text",
        BLOCK_ADD,
        lambda w, x: {"s": w.space(0), "k": "RICH_TEXT", "b": {"text": "Para"}, "p": 1},
        True,
    ),
    Case("blockAdd past the end", BLOCK_ADD, _add(lambda w, x: w.space(0), p=9), False),
    Case("blockAdd negative", BLOCK_ADD, _add(lambda w, x: w.space(0), p=-1), False),
    Case(
        "blockAdd a body invalid for its kind",
        BLOCK_ADD,
        lambda w, x: {"s": w.space(0), "k": "LINK", "b": {"text": "no url"}},
        False,
    ),
    Case(
        "blockAdd without a kind",
        BLOCK_ADD,
        lambda w, x: {"s": w.space(0), "b": {"text": "x"}},
        False,
    ),
    Case("blockAdd typed content", BLOCK_ADD_CONTENT, lambda w, x: {"s": w.space(0)}, False),
    # a body naming an asset: the library is read the whole way (here: none of the tenant's)
    Case(
        "blockAdd an image without alt text",
        BLOCK_ADD,
        lambda w, x: {"s": w.space(0), "k": "IMAGE", "b": {"assetId": str(uuid.UUID(int=3))}},
        False,
    ),
    Case(
        "blockAdd a file of an unknown asset",
        BLOCK_ADD,
        lambda w, x: {
            "s": w.space(0),
            "k": "FILE",
            "b": {"assetId": str(uuid.UUID(int=4)), "name": "n"},
        },
        False,
    ),
    Case("blockAdd another tenant's space", BLOCK_ADD, _add(lambda w, x: x.space(0)), False),
    Case(
        "blockAdd unknown space",
        BLOCK_ADD,
        _add(lambda w, x: encode_id("Space", uuid.UUID(int=5))),
        False,
    ),
    Case("blockAdd a block's ID", BLOCK_ADD, _add(lambda w, x: w.block(0, 0)), False),
    Case("blockAdd malformed ID", BLOCK_ADD, _add(lambda w, x: "Zm9v"), False),
    Case("blockAdd by a viewer", BLOCK_ADD, _add(lambda w, x: w.space(0)), False, token="viewer"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_the_lane_writes_as_the_resolver_path_does(
    case: Case, app, api, new_tenant, new_member, owner_engine, owner_url
) -> None:
    # given: twins and a third tenant (foreign IDs); each twin's first write of the document
    # makes it known (the lane learns documents per tenant), alike for both
    a = await _twin(new_tenant, new_member, owner_engine, owner_url, "A")
    b = await _twin(new_tenant, new_member, owner_engine, owner_url, "B")
    x = await _twin(new_tenant, new_member, owner_engine, owner_url, "X")
    for twin in (a, b):
        text = case.learned or case.document
        learned = await api(twin.token).post(text, _learning(text, twin, x))
        assert "errors" not in learned.json(), learned.json()
        await api(twin.viewer)("{ viewer { kind } }")  # the lane knows the viewer too
    mapping = _mapping(a, b)
    before_a, before_b = (
        await _state(owner_engine, a.tenant_id),
        await _state(owner_engine, b.tenant_id),
    )
    _pair_new_blocks(mapping, before_a, before_b)
    assert _rows(_as_b(before_a, mapping)) == _rows(before_b)

    # when: A the whole way, B by the lane (when it may)
    lane(app).enabled = False
    try:
        resolver = await api(getattr(a, case.token)).post(case.document, case.variables(a, x))
    finally:
        lane(app).enabled = True
    answered = lane(app).answered
    laned = await api(getattr(b, case.token)).post(case.document, case.variables(b, x))

    # then: one answer, one outcome
    assert lane(app).answered == answered + (1 if case.laned else 0), lane(app).misses
    after_a, after_b = (
        await _state(owner_engine, a.tenant_id),
        await _state(owner_engine, b.tenant_id),
    )
    _pair_new_blocks(mapping, after_a, after_b)
    assert laned.status_code == resolver.status_code
    assert _timeless(laned.json()) == _timeless(_as_b(resolver.json(), mapping))
    assert _rows(after_b) == _rows(_as_b(after_a, mapping))
    if case.laned:
        assert after_b != before_b  # the lane wrote
    x_state = await _state(owner_engine, x.tenant_id)
    assert x_state["events"] == []  # nothing written to the third tenant


def _learning(document: str, learner: Twin, x: Twin) -> dict[str, Any]:
    """Variables with which the document succeeds (the lane learns it): a laned case's, or
    for a document the lane never answers, its own case's."""
    cases = [c for c in CASES if c.document == document]
    case = next((c for c in cases if c.laned), cases[0])
    return case.variables(learner, x)


def test_an_input_of_variables_is_read_as_get_argument_values_reads_it():
    """compiler/writes.py `variables_input`: for `input: {a: $a, ...}` the same input as
    graphql-core's `get_argument_values`, or None where that walk would refuse (or a form it
    does not take: a literal, a default, `@oneOf`)."""
    from graphql import build_schema, parse
    from graphql.execution.values import get_argument_values, get_variable_values

    from compiler.writes import variables_input

    schema = build_schema(
        """
        input In { id: ID!, body: String, note: String = "n", more: [Int] }
        input Defaulted { id: ID!, note: [String] = ["x"] }
        input One @oneOf { id: ID, note: String }
        type Query { q: Int }
        type Mutation { m(input: In!): Int, d(input: Defaulted!): Int, o(input: One!): Int,
            two(input: In!, more: Int): Int }
        """
    )
    mutation = schema.mutation_type
    assert mutation is not None

    def field(document):
        op = parse(document).definitions[0]
        node = op.selection_set.selections[0]
        return op, mutation.fields[node.name.value], node

    quick_forms = [
        "mutation ($id: ID!, $body: String) { m(input: {id: $id, body: $body}) }",
        "mutation ($id: ID, $body: String) { m(input: {id: $id, body: $body}) }",
        "mutation ($id: ID!, $n: String, $b: String) { m(input: {id: $id, note: $n, body: $b}) }",
    ]
    cases = [
        {"id": "1", "body": "b"},
        {"id": "1", "n": "y"},
        {"id": "1"},
        {"id": "1", "body": None},
        {"id": None, "body": "b"},
        {"body": "b"},
        {"id": "1", "n": "x", "b": None},
        {"id": "1", "n": None},
    ]
    for document in quick_forms:
        op, field_def, node = field(document)
        read = variables_input(field_def, node)
        assert read is not None, document
        for raw in cases:
            variables = get_variable_values(schema, op.variable_definitions, raw)
            if isinstance(variables, list):
                continue  # refused before: the whole way reports it
            try:
                expected = get_argument_values(field_def, node, variables)["input"]
            except Exception:  # noqa: BLE001 - refused: the quick reader declines too
                expected = None
            assert read(variables.coerced) == expected, (document, raw)
    for document in (
        'mutation ($id: ID!) { m(input: {id: $id, body: "literal"}) }',
        "mutation ($i: In!) { m(input: $i) }",
        "mutation ($id: ID!) { d(input: {id: $id}) }",
        "mutation ($id: ID) { o(input: {id: $id}) }",
        "mutation ($id: ID!) { two(input: {id: $id}, more: 1) }",
    ):
        assert variables_input(*field(document)[1:]) is None, document
