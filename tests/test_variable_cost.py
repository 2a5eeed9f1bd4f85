"""Page sizes given through variables are costed as they will run, on every read path.

Invariants:
- the cost and node limits count a page size as graphql-core coerces it: `100.0` is the
  Int 100, and an omitted variable with a default is that default, not the default page
  size; on the resolver path, the compiled path and the fast lane alike;
- the rate limit charges the same figure, so aliases and big pages are paid for however
  the page size was written;
- the fast lane never reuses a cost computed for other page sizes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from microspace.app import create_app
from tests.conftest import error_codes
from tests.factories import make_spaces

# a(7 + 7b): 70,700 at a = b = 100, 2,940 at the default page size of 20
NESTED = """query N($a: Int, $b: Int) { spaces(first: $a) { edges { node { id
    blocks(first: $b) { edges { node { id } } } } } } }"""
DEFAULTS = """query D($a: Int = 100, $b: Int = 100) { spaces(first: $a) { edges { node { id
    blocks(first: $b) { edges { node { id } } } } } } }"""
SMALL_DEFAULTS = """query S($a: Int = 1, $b: Int = 1) { spaces(first: $a) { edges { node { id
    blocks(first: $b) { edges { node { id } } } } } } }"""
# 40,600 points, within the cost limit, but 100 x (1 + 100) = 10,100 list entries
ENTRIES = """query E($a: Int, $b: Int) { spaces(first: $a) { edges { node {
    blocks(first: $b) { edges { __typename } } } } } }"""
# 15 aliases of a page: 15 x 7a, 10,500 points at a = 100
ALIASES = (
    "query A($a: Int) { "
    + " ".join(f"s{i}: spaces(first: $a) {{ edges {{ node {{ id }} }} }}" for i in range(15))
    + " }"
)


def _refused(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("data") is None, "answered a query over the limits"
    assert len(body["errors"]) == 1, body
    extensions: dict[str, object] = body["errors"][0]["extensions"]
    return extensions


@pytest.mark.parametrize("variables", [{"a": 100.0, "b": 100.0}, {"a": 1e2, "b": 100}])
async def test_float_page_sizes_count_as_the_integers_they_coerce_to(
    api, new_tenant, read_path, variables
):
    owner = await new_tenant("Floats")
    extensions = _refused(await api(owner.token).post(NESTED, variables))
    assert extensions["code"] == "COST_LIMIT"
    assert extensions["cost"] == 70_700


async def test_variable_defaults_count_as_given(api, new_tenant, read_path):
    owner = await new_tenant("Defaults")
    extensions = _refused(await api(owner.token).post(DEFAULTS))
    assert extensions["code"] == "COST_LIMIT"
    assert extensions["cost"] == 70_700
    # a value given overrides the default, as graphql-core runs it
    answered = await api(owner.token).post(DEFAULTS, {"a": 2.0, "b": 3})
    assert error_codes(answered.json()) == []


async def test_float_page_sizes_count_in_the_node_limit(api, new_tenant, read_path):
    owner = await new_tenant("Entries")
    extensions = _refused(await api(owner.token).post(ENTRIES, {"a": 100.0, "b": 100.0}))
    assert extensions["code"] == "NODE_LIMIT"
    assert extensions["nodes"] == 10_100


async def test_a_float_page_size_still_caps_at_the_largest_page(api, new_tenant, read_path):
    owner = await new_tenant("Cap")
    extensions = _refused(await api(owner.token).post(NESTED, {"a": 101.0, "b": 1}))
    assert extensions["code"] == "PAGE_SIZE_LIMIT"


def lane(app):
    return app.state.fast_lane


def fresh(document: str) -> str:
    """The document under a name of its own: not learned by the lane in another test."""
    return document.replace("query ", "query Lane", 1)


async def test_the_fast_lane_costs_float_page_sizes(app, api, new_tenant, owner_url):
    # given: the document is known to the lane, learned and answered with small pages
    owner = await new_tenant("Lane floats")
    await make_spaces(owner_url, owner.tenant_id, 3, blocks_each=2)
    nested, entries = fresh(NESTED), fresh(ENTRIES)
    for small in ({"a": 1, "b": 1}, {"a": 1.0, "b": 1.0}):
        assert error_codes((await api(owner.token).post(nested, small)).json()) == []
    answered = lane(app).answered
    assert error_codes((await api(owner.token).post(nested, {"a": 2.0, "b": 2})).json()) == []
    assert lane(app).answered == answered + 1
    # when: the same document asks for pages of 100, written as floats
    response = await api(owner.token).post(nested, {"a": 100.0, "b": 100.0})
    # then: refused, by the whole way, as the integers would be
    assert lane(app).answered == answered + 1
    extensions = _refused(response)
    assert (extensions["code"], extensions["cost"]) == ("COST_LIMIT", 70_700)
    for _ in range(2):
        assert error_codes((await api(owner.token).post(entries, {"a": 1, "b": 1})).json()) == []
    refused = _refused(await api(owner.token).post(entries, {"a": 100.0, "b": 100.0}))
    assert refused["code"] == "NODE_LIMIT"
    assert lane(app).answered == answered + 2


async def test_the_fast_lane_costs_variable_defaults(app, api, new_tenant, owner_url):
    owner = await new_tenant("Lane defaults")
    await make_spaces(owner_url, owner.tenant_id, 2)
    small, defaults = fresh(SMALL_DEFAULTS), fresh(DEFAULTS)
    # learned with its small defaults; then given pages of 100
    assert error_codes((await api(owner.token).post(small)).json()) == []
    answered = lane(app).answered
    assert error_codes((await api(owner.token).post(small)).json()) == []
    assert lane(app).answered == answered + 1
    extensions = _refused(await api(owner.token).post(small, {"a": 100.0, "b": 100}))
    assert (extensions["code"], extensions["cost"]) == ("COST_LIMIT", 70_700)
    # learned with pages given; then sent without them, so its defaults of 100 apply
    for _ in range(2):
        assert error_codes((await api(owner.token).post(defaults, {"a": 1, "b": 1})).json()) == []
    assert lane(app).answered == answered + 2
    extensions = _refused(await api(owner.token).post(defaults))
    assert (extensions["code"], extensions["cost"]) == ("COST_LIMIT", 70_700)
    assert lane(app).answered == answered + 2


@pytest.fixture(scope="module")
async def metered_app(settings) -> AsyncIterator[object]:
    """An app whose bucket barely refills, so `RateLimit-Remaining` shows each charge."""
    application = create_app(replace(settings, rate_limit_burst=1_000_000, rate_limit_rate=0.001))
    yield application
    await application.state.microspace.engine.dispose()


async def _remaining(
    client: httpx.AsyncClient, token: str, variables: dict[str, object], query: str = ALIASES
) -> int:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert error_codes(response.json()) == [], response.text
    return int(response.headers["ratelimit-remaining"])


@pytest.mark.parametrize("path", ["compiled", "resolvers"])
async def test_aliased_float_pages_are_charged_in_full(metered_app, new_tenant, path):
    owner = await new_tenant("Charged")
    metered_app.state.compiled_reads.enabled = path == "compiled"
    lane(metered_app).enabled = False
    transport = httpx.ASGITransport(app=metered_app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            before = await _remaining(client, owner.token, {"a": 1})
            after = await _remaining(client, owner.token, {"a": 100.0})
    finally:
        metered_app.state.compiled_reads.enabled = True
        lane(metered_app).enabled = True
    assert before - after == 10_500


async def test_the_fast_lane_charges_aliased_float_pages_in_full(metered_app, new_tenant):
    owner = await new_tenant("Lane charged")
    transport = httpx.ASGITransport(app=metered_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        aliases = fresh(ALIASES)
        await _remaining(client, owner.token, {"a": 1}, aliases)  # learned
        answered = lane(metered_app).answered
        before = await _remaining(client, owner.token, {"a": 1.0}, aliases)
        after = await _remaining(client, owner.token, {"a": 100.0}, aliases)
        assert lane(metered_app).answered == answered + 2
    assert before - after == 10_500
