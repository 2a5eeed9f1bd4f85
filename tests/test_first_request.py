"""A text that differs from a learned document only in its aliases (compiler/respell.py).

Invariants:
- the fast lane answers it from the learned document, with its own aliases, exactly as the
  whole way answers it;
- aliases that change what validation sees (two fields under one response key, or a
  response key newly equal to another name) never take that way: the whole way answers,
  with its own errors;
- what cannot parse (an alias that is not a name, brackets that do not pair) has no shape.
"""

from __future__ import annotations

from compiler.respell import realias, same_keys, shape
from core.tenant_cache import normal_text
from tests.conftest import error_codes
from tests.factories import make_space

ALIASED = """query A($id: ID!) { {alias}: space(id: $id) { id t: title
    blocks(first: 20) { edges { node { id kind } } } } }"""
# under one response key, the two fields would conflict
TWO = """query T($id: ID!, $other: ID!) { {a}: space(id: $id) { id } {b}: space(id: $other) { id } }"""


def _shape(text: str):
    normal = normal_text(text)
    assert normal is not None
    return shape(normal)


def lane(app):
    return app.state.fast_lane


def test_aliases_are_read_from_the_tokens() -> None:
    first, second = (
        _shape("{ a: f(x: {k: 1}) { b: g } h }"),
        _shape("{ y: f(x: {k: 1}) { z: g } h }"),
    )
    assert first is not None and second is not None
    assert first.key == second.key and first.aliases == ("a", "b") and second.aliases == ("y", "z")
    assert same_keys(first, second)
    # arguments, object values and variable definitions hold no aliases
    vars_ = _shape("query Q($v: Int = 1) { f(x: {k: $v}) }")
    assert vars_ is not None and vars_.aliases == ()
    assert _shape("{ a: f { b } ") is None  # does not pair
    assert _shape("{ 1a: f }") is None  # not a name


def test_aliases_that_change_which_keys_are_equal_do_not_match() -> None:
    learned = _shape("{ a: f b: g h }")
    assert learned is not None
    for text in ("{ x: f x: g h }", "{ h: f y: g h }", "{ x: f y: g h }"):
        new = _shape(text)
        assert new is not None and new.key == learned.key
        assert same_keys(learned, new) is (text == "{ x: f y: g h }"), text
    assert not same_keys(_shape("{ a: f a: g h }"), _shape("{ x: f y: g h }"))
    # a field right before a spread is a name too
    spread, onto_field = _shape("{ x: g a...F }"), _shape("{ a: g a...F }")
    assert spread is not None and onto_field is not None and spread.key == onto_field.key
    assert not same_keys(spread, onto_field)


def test_everything_but_the_aliases_is_kept_as_written() -> None:
    one, other = _shape("{ x: f(a: 1.5) }"), _shape("{ y: f(a: 1 .5) }")
    assert one is not None and other is not None and one.key != other.key


def test_realiasing_copies_only_the_aliases() -> None:
    from graphql import parse, print_ast

    document = parse("query Q { a: f { b: g c } ...F } fragment F on T { d: h }")
    copy = realias(document, ("x", "y", "z"))
    assert copy is not None
    assert print_ast(copy) == print_ast(
        parse("query Q { x: f { y: g c } ...F } fragment F on T { z: h }")
    )
    assert print_ast(document).startswith("query Q {\n  a: f")  # the learned one unchanged
    assert realias(document, ("x", "y")) is None


async def test_a_new_alias_is_answered_by_the_lane_as_the_whole_way_answers_it(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Aliases")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=2)
    first = (await api(owner.token).post(ALIASED.replace("{alias}", "s0"), {"id": space})).json()
    answered = lane(app).answered
    again = await api(owner.token).post(ALIASED.replace("{alias}", "s1"), {"id": space})
    assert lane(app).answered == answered + 1, lane(app).misses
    assert again.json() == {"data": {"s1": first["data"]["s0"]}}
    assert set(again.json()["data"]["s1"]) == {"id", "t", "blocks"}
    # the whole way, for the same text, answers the same
    reads = app.state.compiled_reads
    lane(app).enabled = reads.enabled = False
    try:
        whole = await api(owner.token).post(ALIASED.replace("{alias}", "s1"), {"id": space})
    finally:
        lane(app).enabled = reads.enabled = True
    assert whole.json() == again.json()


async def test_aliases_that_make_fields_conflict_get_the_whole_ways_error(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Conflict")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=1)
    ok = await api(owner.token).post(
        TWO.replace("{a}", "x").replace("{b}", "y"), {"id": space, "other": space}
    )
    assert "errors" not in ok.json()
    answered = lane(app).answered
    clash = await api(owner.token).post(
        TWO.replace("{a}", "z").replace("{b}", "z"), {"id": space, "other": space}
    )
    assert lane(app).answered == answered, lane(app).misses
    assert error_codes(clash.json()) == ["GRAPHQL_VALIDATION_FAILED"]
