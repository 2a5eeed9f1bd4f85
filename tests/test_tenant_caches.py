"""The caches of the compiled read path and the fast lane (core/tenant_cache.py).

Invariants:
- one tenant sending 10,000 distinct documents leaves another tenant's warm requests on the
  fast lane: each tenant evicts only within its own share;
- texts that differ only in white space, commas and comments share one entry, and the lane
  answers such a text as it answers the one it learned; an error in it is located in its
  own text, and a text over the document's limits (characters, tokens with comments) is
  refused as the whole way refuses it;
- the caches' hits, misses and evictions are in /metrics, by `cache`.
"""

from __future__ import annotations

import random
import re
import time

from core.ids import encode_id
from core.tenant_cache import TenantCache, document_key, normal_text
from tests.conftest import METRICS_AUTH, error_codes
from tests.factories import make_space

SPACE = """query Q($id: ID!) { space(id: $id) { id title
    blocks(first: 20) { edges { node { id kind position body } } } } }"""
# the same document, spelled otherwise: white space, commas and comments
SPACE_RESPELLED = """# the space, again
query Q(
  $id: ID!   # its global ID
) {
  space(id: $id) {
    id, title
    blocks(first: 20) { edges { node { id, kind, position, body } } }
  }
}
"""


def lane(app):
    return app.state.fast_lane


def documents(app) -> TenantCache:
    return next(c for c in app.state.compiled_reads.caches if c.name == "documents")


def test_respellings_share_a_key_and_other_documents_do_not() -> None:
    assert document_key(SPACE) == document_key(SPACE_RESPELLED)
    assert document_key("{ a { b } }") == document_key("{a{b}}") == document_key("{a,{b}}#x")
    assert document_key("{ a b }") != document_key("{ ab }")
    # NBSP is no ignored character: such a text fails to parse, and is no learned text
    assert document_key("{ a }\xa0") != document_key("{ a }")
    assert document_key("{ a(x: 1) }") != document_key("{ a(x: 1 .5) }")
    # inside a string, white space and `#` are content: such a text is keyed as it is
    assert document_key('{ a(x: "1  #2") }') != document_key('{ a(x: "1 ") }')
    assert document_key('{ a(x: "1") }') != document_key('{ a(x: "1")  }')


def test_the_normal_text_drops_exactly_graphqls_ignored_characters() -> None:
    # a reference by GraphQL's lexical grammar: white space, line terminators, commas and the
    # BOM are ignored; a vertical tab, a form feed, NBSP or U+2028 are characters of the text
    # (a parse error outside a string), so no text holding one shares a learned text's key
    ignored = re.compile(r"[ \t\n\r,\ufeff]+")
    beside = re.compile(r" ?([{}()\[\]:!$=@|&]) ?")

    def reference(text: str) -> str | None:
        if '"' in text:
            return None
        return beside.sub(r"\1", ignored.sub(" ", re.sub(r"#[^\n\r]*", "", text))).strip(" ")

    pieces = [*"{}():!$=@[|,#", "...", ". .", "a", "b1", "12", '"s"', " ", "  ", "\n", "\r"]
    pieces += ["\t", "\ufeff", "# c\n", "\x0b", "\x0c", "\x1c", "\x1f", "\xa0", "\x85", "\u2028"]
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 16)))
        assert normal_text(text) == reference(text), repr(text)


def test_a_tenant_evicts_only_within_its_share() -> None:
    cache: TenantCache[int] = TenantCache("t", max_entries=8, max_bytes=1000, share=0.5)
    for i in range(3):
        cache.put("quiet", i, i, 10)
    for i in range(100):
        cache.put("loud", i, i, 10)
    assert [cache.get("quiet", i) for i in range(3)] == [0, 1, 2]
    assert cache.get("loud", 99) == 99 and cache.get("loud", 95) is None
    assert cache.entries == 7 and cache.evictions == 96
    # bytes bound the share too, least recently used first (99 was just read)
    cache.put("loud", "big", -1, 480)
    assert cache.get("loud", 96) is None and cache.get("loud", 97) is None
    assert cache.get("loud", 99) == 99 and cache.get("loud", "big") == -1
    assert cache.bytes == 30 + 500
    # and the whole cache: the tenant holding the most gives way
    cache.put("third", 0, 0, 480)
    assert cache.bytes <= 1000 and cache.get("third", 0) == 0
    assert cache.get("loud", 98) is None
    assert [cache.get("quiet", i) for i in range(3)] == [0, 1, 2]
    cache.put("anyone", "huge", 0, 501)  # over any share: not kept
    assert cache.get("anyone", "huge") is None


async def test_a_flood_of_new_documents_leaves_another_tenants_requests_on_the_lane(
    app, api, client, new_tenant, owner_url
):
    quiet = await new_tenant("Quiet")
    space, _ = await make_space(owner_url, quiet.tenant_id, blocks=2)
    await api(quiet.token).post(SPACE, {"id": space})
    loud = await new_tenant("Loud")
    headers = {"Authorization": f"Bearer {loud.token}"}
    started = time.monotonic()
    for i in range(10_000):
        # distinct documents, each answered by the compiled path and so learned and planned
        body = {"query": f"query Flood{i} {{ __typename }}"}
        response = await client.post("/graphql", json=body, headers=headers)
        assert response.status_code == 200, response.text
    print(f"10,000 documents in {time.monotonic() - started:.1f} s")
    answered = lane(app).answered
    again = await api(quiet.token).post(SPACE, {"id": space})
    assert lane(app).answered == answered + 1, lane(app).misses
    assert len(again.json()["data"]["space"]["blocks"]["edges"]) == 2
    assert documents(app).evictions > 0  # the loud tenant's share was full


async def test_a_respelled_document_is_answered_by_the_lane_from_the_same_entry(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Respelled")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=2)
    first = await api(owner.token).post(SPACE, {"id": space})
    held = documents(app).entries
    answered = lane(app).answered
    again = await api(owner.token).post(SPACE_RESPELLED, {"id": space})
    assert lane(app).answered == answered + 1, lane(app).misses
    assert again.json() == first.json()
    assert documents(app).entries == held  # no new entry


async def test_an_error_in_a_respelled_document_is_located_in_its_own_text(
    app, api, new_tenant, owner_url, read_path
):
    owner = await new_tenant("Located")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=1)
    await api(owner.token).post(SPACE, {"id": space})  # planned from the first spelling
    missing = encode_id("Space", "00000000-0000-4000-8000-000000000000")
    body = (await api(owner.token).post(SPACE_RESPELLED, {"id": missing})).json()
    assert error_codes(body) == ["NOT_FOUND"]
    line = SPACE_RESPELLED.splitlines().index("  space(id: $id) {") + 1
    assert body["errors"][0]["locations"] == [{"line": line, "column": 3}]


async def test_a_respelling_over_the_text_limits_is_refused_as_the_whole_way_refuses_it(
    app, api, new_tenant, owner_url
):
    owner = await new_tenant("Padded")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=1)
    await api(owner.token).post(SPACE, {"id": space})
    limits = app.state.compiled_reads.limits
    answered = lane(app).answered
    commented = "#\n" * limits.max_tokens + SPACE  # comments count as tokens
    assert error_codes((await api(owner.token).post(commented, {"id": space})).json()) == [
        "TOKEN_LIMIT"
    ]
    spaced = " " * limits.max_document_chars + SPACE
    assert error_codes((await api(owner.token).post(spaced, {"id": space})).json()) == [
        "DOCUMENT_SIZE_LIMIT"
    ]
    assert lane(app).answered == answered


async def test_the_caches_are_in_the_metrics(app, api, client, new_tenant, owner_url):
    owner = await new_tenant("Measured")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=1)
    for _ in range(2):
        await api(owner.token).post(SPACE, {"id": space})
    text = (await client.get("/metrics", headers=METRICS_AUTH)).text
    for cache in ("documents", "plans", "variables", "costs"):
        for series in ("hits_total", "misses_total", "evictions_total", "entries", "bytes"):
            pattern = rf'^microspace_cache_{series}{{cache="{cache}"}} (\S+)$'
            assert re.search(pattern, text, re.MULTILINE), (cache, series)
    hits = re.search(r'^microspace_cache_hits_total{cache="documents"} (\S+)$', text, re.MULTILINE)
    assert hits is not None and float(hits.group(1)) >= 1
