"""A text that differs from a learned document only in its literals (and aliases): the fast
lane answers it from a copy of the learned document, with the plan made once for the shape and
its literals as statement parameters (compiler/respell.py, compiler/learned.py,
compiler/cache.py `_shared`).

Invariants:
- a new ID or page size written in the text is answered by the lane with the whole way's
  bytes, caching headers and audit entries, POST and GET alike;
- what a literal's value decides is decided again for it: an invalid or foreign ID, a page
  size over the maximum, a node or cost limit, a value validation refuses (an Int out of
  range, a date that is none) all get the whole way's answer, and the lane answers nothing;
- literals the shape does not read (escapes, block strings, floats) or whose equalities
  change (two fields under one response key) make no copy;
- a plan that depends on a literal's value (a root filter) is not shared: the copy is planned.
"""

from __future__ import annotations

from typing import Any

import pytest

from compiler.respell import respell, shape, slots
from core.ids import encode_id
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_space, make_spaces
from tests.test_fast_lane import _audit_rows

SPACE = """query S { space(id: "{id}") { id title
    blocks(first: {first}) { edges { node { id kind position body } } } } }"""
CONTACTS = """query C { spaces(first: {first}) { edges { node { id
    contacts { edges { node { contact { id email fullName } } } } } } } }"""
NESTED = """query N { spaces(first: 100) { edges { node { id
    blocks(first: {first}) { edges { node { id } } } } } } }"""
SINCE = """query D { spaces(first: 5, updatedSince: "{since}") { edges { node { id } } } }"""


def lane(app):
    return app.state.fast_lane


def _text(template: str, **values: Any) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


async def _whole_way(app, send):
    """The answer of the whole way (no lane, no compiled reads) to the same request."""
    reads = app.state.compiled_reads
    lane(app).enabled = reads.enabled = False
    try:
        return await send()
    finally:
        lane(app).enabled = reads.enabled = True


async def _lane_then_whole(app, send, answered_by_lane: bool):
    answered = lane(app).answered
    got = await send()
    assert lane(app).answered == answered + answered_by_lane, lane(app).misses
    whole = await _whole_way(app, send)
    assert got.status_code == whole.status_code
    assert got.content == whole.content
    return got


def test_literals_are_marks_of_the_shape() -> None:
    one = shape(_text(SPACE, id="U3BhY2U6MQ==", first=2))
    other = shape(_text(SPACE, id="U3BhY2U6Mg==", first=30).replace("\n", " # note\n"))
    assert one is not None and other is not None
    assert one.key == other.key and one.literals == ('"U3BhY2U6MQ=="', "2")
    assert other.literals == ('"U3BhY2U6Mg=="', "30") and other.comments == 1
    # a `#` in a string is no comment
    assert shape('{ a(s: "x # y") }').comments == 0  # type: ignore[union-attr]
    # what the shape does not read: an escape, a block string, an unterminated string
    for text in ('{ a(s: "x\\"y") }', '{ a(s: """x""") }', '{ a(s: "x) }'):
        assert shape(text) is None, text
    # with a float, numbers stay as written; `1.5` and `1 .5` stay apart
    one, other = shape("{ f(a: 1.5, b: 2) }"), shape("{ f(a: 1.5, b: 3) }")
    assert one is not None and other is not None and one.key != other.key
    assert shape("{ f(a: 1.5) }").key != shape("{ f(a: 1 .5) }").key  # type: ignore[union-attr]


def test_slots_find_the_literals_and_their_types(app) -> None:
    from graphql import parse

    schema = app.state.compiled_reads.schema
    text = 'query($x: Int = 3) { s: space(id: "U3BhY2U6MQ==") @include(if: true) { id } }'
    read = shape(text)
    assert read is not None and read.order == "lal"
    found = slots(schema, parse(text), read)
    assert found is not None
    assert [str(t) for t in found.types] == ["Int", "ID!"]


def test_a_new_literal_validation_refuses_makes_no_copy(app) -> None:
    from graphql import parse, print_ast

    schema = app.state.compiled_reads.schema
    text = _text(SINCE, since="2020-01-01T00:00:00+00:00")
    read = shape(text)
    assert read is not None
    document = parse(text)
    at = slots(schema, document, read)
    assert at is not None
    ok = ('"2021-01-01T00:00:00+00:00"',)
    copy = respell(document, at, (), ("7", *ok))
    assert copy is not None
    assert print_ast(copy) == print_ast(parse(text.replace("2020", "2021").replace("5,", "7,")))
    assert respell(document, at, (), ("7", '"yesterday"')) is None
    assert respell(document, at, (), ("99999999999", *ok)) is None  # not a 32-bit Int


async def test_a_new_id_and_page_size_are_answered_by_the_lane_as_the_whole_way(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Literals")
    spaces = [await make_space(owner_url, owner.tenant_id, blocks=4) for _ in range(2)]
    learned = await api(owner.token).post(_text(SPACE, id=spaces[0][0], first=2))
    assert len(learned.json()["data"]["space"]["blocks"]["edges"]) == 2
    reads = app.state.compiled_reads
    shared = reads.shared
    for space, first in ((spaces[1][0], 3), (spaces[0][0], 4), (spaces[1][0], 1)):
        text = _text(SPACE, id=space, first=first)
        got = await _lane_then_whole(app, lambda t=text: api(owner.token).post(t), True)
        body = got.json()["data"]["space"]
        assert body["id"] == space and len(body["blocks"]["edges"]) == first
    assert reads.shared == shared + 3  # the plan made once for the shape, literals bound


async def test_a_new_literal_over_get_is_answered_by_the_lane_with_the_same_caching(
    app, client, new_tenant, owner_url
):
    owner = await new_tenant("Literal GET")
    spaces = [await make_space(owner_url, owner.tenant_id, blocks=2) for _ in range(2)]
    auth = {"Authorization": f"Bearer {owner.token}"}
    await client.post(
        "/graphql", json={"query": _text(SPACE, id=spaces[0][0], first=2)}, headers=auth
    )
    text = _text(SPACE, id=spaces[1][0], first=5)

    async def send():
        return await client.get("/graphql", params={"query": text}, headers=auth)

    got = await _lane_then_whole(app, send, True)
    for header in ("cache-control", "etag", "content-type"):
        assert header in got.headers
    whole = await _whole_way(app, send)
    for header in ("cache-control", "etag", "content-type"):
        assert got.headers.get(header) == whole.headers.get(header), header
    again = await client.get(
        "/graphql", params={"query": text}, headers={**auth, "If-None-Match": got.headers["etag"]}
    )
    assert again.status_code == 304


async def test_ids_and_limits_a_literal_decides_get_the_whole_ways_answer(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Literal errors")
    other = await new_tenant("Literal elsewhere")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=1)
    foreign, _ = await make_space(owner_url, other.tenant_id, blocks=1)
    assert "errors" not in (await api(owner.token).post(_text(SPACE, id=space, first=2))).json()
    cases = {
        "not an ID": ("bm90IGFuIGlk", 2),
        "another type's ID": (encode_id("Block", owner.tenant_id), 2),
        "another tenant's space": (foreign, 2),
        "a page over the maximum": (space, 101),
        "a negative page": (space, -1),
        "an Int out of range": (space, 99999999999),
    }
    codes = {}
    for name, (id_, first) in cases.items():
        text = _text(SPACE, id=id_, first=first)
        got = await _lane_then_whole(app, lambda t=text: api(owner.token).post(t), False)
        codes[name] = error_codes(got.json())
        assert codes[name], name
    assert codes["an Int out of range"] == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes["a page over the maximum"] == ["PAGE_SIZE_LIMIT"]


async def test_a_cost_limit_that_depends_on_a_literal_is_checked_with_it(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Literal limit")
    await make_spaces(owner_url, owner.tenant_id, 2, blocks_each=2)
    small = await api(owner.token).post(_text(NESTED, first=2))
    assert "errors" not in small.json()
    text = _text(NESTED, first=3)
    await _lane_then_whole(app, lambda: api(owner.token).post(text), True)
    # 100 spaces x 100 blocks: over max_cost (50,000)
    text = _text(NESTED, first=100)
    refused = await _lane_then_whole(app, lambda: api(owner.token).post(text), False)
    assert error_codes(refused.json()) == ["COST_LIMIT"]


async def test_a_value_validation_refuses_gets_its_error_and_the_copy_is_planned(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Literal dates")
    await make_spaces(owner_url, owner.tenant_id, 2)
    ok = await api(owner.token).post(_text(SINCE, since="2020-01-01T00:00:00+00:00"))
    assert len(ok.json()["data"]["spaces"]["edges"]) == 2
    reads = app.state.compiled_reads
    shared = reads.shared
    later = _text(SINCE, since="2999-01-01T00:00:00+00:00")
    got = await _lane_then_whole(app, lambda: api(owner.token).post(later), True)
    assert got.json()["data"]["spaces"]["edges"] == []
    assert reads.shared == shared  # a root filter shapes the plan: the copy was planned
    bad = _text(SINCE, since="yesterday")
    refused = await _lane_then_whole(app, lambda: api(owner.token).post(bad), False)
    assert error_codes(refused.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_literals_made_equal_under_one_response_key_get_the_whole_ways_error(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Literal clash")
    a, _ = await make_space(owner_url, owner.tenant_id)
    b, _ = await make_space(owner_url, owner.tenant_id)
    two = 'query T { s: space(id: "{a}") { id } s: space(id: "{b}") { id } }'
    same = await api(owner.token).post(_text(two, a=a, b=a))
    assert "errors" not in same.json()
    text = _text(two, a=a, b=b)
    clash = await _lane_then_whole(app, lambda: api(owner.token).post(text), False)
    assert error_codes(clash.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_disclosed_personal_data_is_audited_alike_for_a_new_literal(
    app, api, new_tenant, owner_url, owner_engine
):
    owner = await new_tenant("Literal audit")
    ids = await make_spaces(owner_url, owner.tenant_id, 3)
    contacts = await make_contacts(owner_url, owner.tenant_id, 3)
    for sid in ids:
        await make_access(owner_url, owner.tenant_id, sid, contacts)
    await api(owner.token).post(_text(CONTACTS, first=3))
    text = _text(CONTACTS, first=2)
    await _lane_then_whole(app, lambda: api(owner.token).post(text), True)
    rows = await _audit_rows(owner_engine, owner.tenant_id)
    assert len(rows) == 3
    assert rows[1] == rows[2]
    assert rows[2][1] == ["email", "fullName"]


@pytest.mark.parametrize("value", ['"text"', "true", "ENUM", "null", "[1]"])
def test_a_literal_of_another_kind_is_another_shape(value: str) -> None:
    one = shape("{ blocks(first: 2) { id } }")
    other = shape("{ blocks(first: " + value + ") { id } }")
    assert one is not None and other is not None and one.key != other.key


@pytest.mark.parametrize(
    "literal",
    ['"U3BhY2U6MQ=="', '""', '"12"', "12", "0", "-0", "2147483647", "2147483648", "-2147483649"],
)
@pytest.mark.parametrize("type_name", ["ID", "ID!", "String", "String!", "Int", "Int!", "DateTime"])
def test_a_literals_value_is_read_as_validation_and_coercion_read_it(
    app, literal: str, type_name: str
) -> None:
    from graphql import GraphQLNonNull, IntValueNode, StringValueNode, value_from_ast
    from graphql.utilities import validate_input_literal

    from compiler.respell import INVALID, _coerced

    schema = app.state.compiled_reads.schema
    named = schema.get_type(type_name.rstrip("!"))
    type_ = GraphQLNonNull(named) if type_name.endswith("!") else named
    node = (
        StringValueNode(value=literal[1:-1]) if literal[0] == '"' else IntValueNode(value=literal)
    )
    errors: list[Any] = []
    validate_input_literal(node, type_, lambda error, _path: errors.append(error))
    expected = INVALID if errors else value_from_ast(node, type_, None)
    assert _coerced(literal, type_, known_valid=False) == expected


async def test_a_new_literal_served_by_the_shapes_plan_copies_no_document(
    app, api, new_tenant, owner_url, monkeypatch
):
    import compiler.learned

    owner = await new_tenant("Literal no copy")
    spaces = [await make_space(owner_url, owner.tenant_id, blocks=3) for _ in range(3)]
    await api(owner.token).post(_text(SPACE, id=spaces[0][0], first=2))
    copies = []
    respell_ = compiler.learned.respell
    monkeypatch.setattr(compiler.learned, "respell", lambda *a: copies.append(a) or respell_(*a))
    answered = lane(app).answered
    # the lane's first request of the shape and page size is costed on its copy
    await api(owner.token).post(_text(SPACE, id=spaces[1][0], first=2))
    assert lane(app).answered == answered + 1 and len(copies) == 1
    # another ID, the same page size: the cost is known, the shape's plan binds the ID
    got = await api(owner.token).post(_text(SPACE, id=spaces[2][0], first=2))
    assert lane(app).answered == answered + 2 and len(copies) == 1
    assert got.json()["data"]["space"]["id"] == spaces[2][0]
    # a new page size is costed on a copy of its own
    await api(owner.token).post(_text(SPACE, id=spaces[2][0], first=3))
    assert lane(app).answered == answered + 3 and len(copies) == 2


async def test_a_variables_default_written_as_a_literal_is_the_new_texts(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Literal default")
    await make_spaces(owner_url, owner.tenant_id, 4)
    defaulted = "query P($n: Int = {n}) { spaces(first: $n) { edges { node { id } } } }"
    learned = await api(owner.token).post(_text(defaulted, n=1))
    assert len(learned.json()["data"]["spaces"]["edges"]) == 1
    text = _text(defaulted, n=3)
    got = await _lane_then_whole(app, lambda: api(owner.token).post(text), True)
    assert len(got.json()["data"]["spaces"]["edges"]) == 3
