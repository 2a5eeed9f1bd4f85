"""A text that differs from a learned document only in its aliases (compiler/respell.py).

Invariants:
- the fast lane answers it from the learned document, with its own aliases, exactly as the
  whole way answers it;
- aliases that change what validation sees (two fields under one response key, or a
  response key newly equal to another name) never take that way: the whole way answers,
  with its own errors;
- what cannot parse (an alias that is not a name, brackets that do not pair) has no shape;
- the plan is made once for the shape, its response keys marks renamed per request
  (compiler/cache.py `_shared`): nested aliases, one field twice under two aliases with
  other arguments, aliases in fragments, merged keys and the redactions' paths come out
  as the whole way writes them.
"""

from __future__ import annotations

import random

from compiler import learned
from compiler.respell import realias, same_keys, shape
from core.ids import encode_id
from core.tenant_cache import document_key, last_normal, normal_text
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


def test_a_shape_read_from_the_normal_text_is_the_texts_own() -> None:
    # compiler/learned.py reads a new text's shape from the normal text its key was made of
    pieces = [*"{}():!$=@[]|&.,#\\", "...", "a", "b1", "on", "12", "-3", "1.5"]
    pieces += [" ", "  ", "\n", "\r", "\t", "\ufeff", "# c\n", "# a # b\n", "\x0b", "\xa0"]
    rng = random.Random(11)
    from_normal = 0
    for i in range(20_000):
        text = f"{{ q{i} " + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        document_key(text)
        from_normal += last_normal(text) is not None
        assert learned._shape(text) == shape(text), repr(text)
    assert from_normal > 19_000


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


# aliases at every level, one field twice with other arguments, a fragment's alias
NESTED = """query N($id: ID!) { {a}: space(id: $id) { id {t}: title ...F
    {b}: blocks(first: 1) { edges { node { {i}: id kind } } }
    {c}: blocks(first: 3) { edges { node { id } } } } }
fragment F on Space { {d}: description }"""
# two fields under one response key, merged
MERGED = "query M($id: ID!) { {a}: space(id: $id) { id } {b}: space(id: $id) { title } }"
PERSONAL = "query P($id: ID!) { {a}: contact(id: $id) { {e}: email fullName {p}: phone } }"


def _aliased(template: str, **aliases: str) -> str:
    for mark, alias in aliases.items():
        template = template.replace("{" + mark + "}", alias)
    return template


async def _whole_way(app, send):
    reads = app.state.compiled_reads
    lane(app).enabled = reads.enabled = False
    try:
        return await send()
    finally:
        lane(app).enabled = reads.enabled = True


async def test_new_aliases_share_one_plan_and_answer_as_the_whole_way(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Alias plan")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=4)
    post = api(owner.token).post
    learned = _aliased(NESTED, a="s", t="t", b="one", i="i", c="three", d="d")
    assert "errors" not in (await post(learned, {"id": space})).json()
    reads = app.state.compiled_reads
    plans = next(c for c in reads.caches if c.name == "plans")
    shared, entries = reads.shared, plans.entries
    news = [
        _aliased(NESTED, a=f"s{n}", t=f"t{n}", b=f"x{n}", i=f"i{n}", c=f"y{n}", d=f"d{n}")
        for n in range(4)
    ]
    for text in news:
        answered = lane(app).answered
        got = await post(text, {"id": space})
        assert lane(app).answered == answered + 1, lane(app).misses
        whole = await _whole_way(app, lambda t=text: post(t, {"id": space}))
        assert got.content == whole.content
    n = 3
    body = got.json()["data"][f"s{n}"]
    assert list(body) == ["id", f"t{n}", f"d{n}", f"x{n}", f"y{n}"]
    assert len(body[f"x{n}"]["edges"]) == 1 and len(body[f"y{n}"]["edges"]) == 3
    assert list(body[f"x{n}"]["edges"][0]["node"]) == [f"i{n}", "kind"]
    # one plan made for the shape, whatever the aliases: no plan per text
    assert reads.shared == shared + len(news)
    assert plans.entries <= entries + 1


async def test_merged_response_keys_stay_merged_with_new_aliases(app, api, new_tenant, owner_url):
    owner = await new_tenant("Alias merge")
    space, _ = await make_space(owner_url, owner.tenant_id)
    post = api(owner.token).post
    assert "errors" not in (await post(_aliased(MERGED, a="x", b="x"), {"id": space})).json()
    text = _aliased(MERGED, a="y", b="y")
    answered = lane(app).answered
    got = await post(text, {"id": space})
    assert lane(app).answered == answered + 1, lane(app).misses
    assert got.content == (await _whole_way(app, lambda: post(text, {"id": space}))).content
    assert set(got.json()["data"]["y"]) == {"id", "title"}
    # two keys where the learned text had one: not the learned shape's plan
    apart = _aliased(MERGED, a="y", b="z")
    answered = lane(app).answered
    got = await post(apart, {"id": space})
    assert lane(app).answered == answered, lane(app).misses
    assert got.content == (await _whole_way(app, lambda: post(apart, {"id": space}))).content
    assert set(got.json()["data"]) == {"y", "z"}


async def test_redactions_of_a_new_alias_name_its_own_keys(
    app, api, new_tenant, new_member, owner_url
):
    from tests.factories import make_full_contact

    owner = await new_tenant("Alias redaction")
    contact = encode_id("Contact", await make_full_contact(owner_url, owner.tenant_id))
    viewer = api((await new_member(owner.tenant_id, "viewer")).token)
    first = await viewer.post(_aliased(PERSONAL, a="c", e="e", p="p"), {"id": contact})
    assert [r["path"] for r in first.json()["extensions"]["redactions"]] == [
        ["c", "e"],
        ["c", "p"],
    ]
    text = _aliased(PERSONAL, a="who", e="mail", p="tel")
    answered, shared = lane(app).answered, app.state.compiled_reads.shared
    got = await viewer.post(text, {"id": contact})
    assert lane(app).answered == answered + 1, lane(app).misses
    assert app.state.compiled_reads.shared == shared + 1  # the marked plan
    whole = await _whole_way(app, lambda: viewer.post(text, {"id": contact}))
    assert got.content == whole.content
    assert [r["path"] for r in got.json()["extensions"]["redactions"]] == [
        ["who", "mail"],
        ["who", "tel"],
    ]
    assert got.json()["data"]["who"]["mail"] is None


async def test_an_error_under_a_new_alias_is_the_whole_ways(app, api, new_tenant, owner_url):
    owner = await new_tenant("Alias error")
    space, _ = await make_space(owner_url, owner.tenant_id)
    post = api(owner.token).post
    learned = _aliased(NESTED, a="s", t="t", b="one", i="i", c="three", d="d")
    assert "errors" not in (await post(learned, {"id": space})).json()
    missing = encode_id("Space", owner.tenant_id)  # no such space
    text = _aliased(NESTED, a="gone", t="t", b="one", i="i", c="three", d="d")
    answered = lane(app).answered
    got = await post(text, {"id": missing})
    assert lane(app).answered == answered, lane(app).misses  # errors: the whole way answers
    assert got.json()["data"] == {"gone": None}
    assert got.json()["errors"][0]["path"] == ["gone"]
    assert error_codes(got.json()) == ["NOT_FOUND"]
    whole = await _whole_way(app, lambda: post(text, {"id": missing}))
    assert got.content == whole.content
