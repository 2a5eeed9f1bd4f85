"""HTTP caching of queries answered over GET, through HTTP (docs/caching.md).

Invariants:
- an answer that discloses personal data (an audited read) is `private, no-store`, whoever
  asked; other member and partner reads are `private, no-cache` with an ETag; a widget's
  reads stay public for a short max-age (tests/test_widget_reads.py); errors are `no-store`;
- every one varies on Accept (the media type) and Authorization (the credential);
- `If-None-Match` is compared weakly (RFC 9110 section 13.1.2): a weak tag, any tag of a
  list or `*` answers 304 with the ETag, Cache-Control and Vary of the 200 and no body;
- the compiled read path and the resolver path write the same bytes, so the same ETag.
"""

from __future__ import annotations

import orjson
import pytest

from compiler.run import compact
from compiler.sql import MARK
from core.http import etag_of, get_caching, names_errors, none_match
from tests.factories import make_contacts, make_key, make_spaces, mint_key
from tests.widgets import by_hash

SPACES = "{ spaces(first: 5) { edges { node { id title } } } }"
CONTACTS = "{ contacts(first: 5) { edges { node { id email fullName } } } }"
MISSING = 'query { contact(id: "Q29udGFjdDpub3BlCg") { id email } }'


async def _get(client, token: str, query: str, **headers: str):
    headers["Authorization"] = f"Bearer {token}"
    return await client.get("/graphql", params={"query": query}, headers=headers)


def _varies_on(response, *names: str) -> bool:
    varied = {v.strip().lower() for v in response.headers.get("vary", "").split(",")}
    return {n.lower() for n in names} <= varied


@pytest.fixture(params=["whole way", "fast lane"])
def way(app, request):
    """Each GET answered by the stack, or (repeated) by the fast lane: one caching."""
    lane = app.state.fast_lane
    lane.enabled = request.param == "fast lane"
    yield request.param
    lane.enabled = True


@pytest.fixture
async def tenant(way, new_tenant, owner_url):
    t = await new_tenant("Cache")
    await make_spaces(owner_url, t.tenant_id, 2)
    await make_contacts(owner_url, t.tenant_id, 2)
    return t


async def test_a_members_personal_read_is_private_no_store(client, tenant):
    response = await _get(client, tenant.token, CONTACTS)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["contacts"]["edges"][0]["node"]["email"]
    assert response.headers["cache-control"] == "private, no-store"
    assert _varies_on(response, "Accept", "Authorization")


async def test_a_partners_personal_read_is_private_no_store(client, tenant, owner_url):
    key = await make_key(owner_url, tenant.tenant_id, "partner", ["contacts:read"])
    response = await _get(client, key, CONTACTS)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["contacts"]["edges"]
    assert response.headers["cache-control"] == "private, no-store"


async def test_a_read_without_personal_data_is_private_and_revalidated(client, tenant):
    response = await _get(client, tenant.token, SPACES)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["spaces"]["edges"]
    assert response.headers["cache-control"] == "private, no-cache"
    assert response.headers["etag"] == etag_of(response.content)
    assert _varies_on(response, "Accept", "Authorization")


async def test_an_answer_with_errors_is_never_stored(client, tenant):
    response = await _get(client, tenant.token, MISSING)
    assert response.status_code == 200 and response.json()["errors"]
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers
    # nor a conditional request turned into a 304: there is no representation
    again = await _get(client, tenant.token, MISSING, **{"If-None-Match": "*"})
    assert again.status_code == 200 and again.json()["errors"]
    # the errors first, as the GraphQL spec advises: what the caching reads
    assert response.content.startswith(b'{"errors":')


async def test_a_key_named_errors_inside_the_data_is_data(client, tenant):
    query = "{ errors: viewer { kind } }"
    response = await _get(client, tenant.token, query)
    assert response.content.startswith(b'{"data":{"errors":')
    assert response.headers["cache-control"] == "private, no-cache"
    assert response.headers["etag"] == etag_of(response.content)


def _matching(etag: str) -> dict[str, str]:
    return {
        "the same tag": etag,
        "the tag weak, as a gzip proxy sends it back": f"W/{etag}",
        "a list holding it": f'"0000", W/"1111" ,{etag}',
        "a list holding it weak": f'"0000", W/{etag}',
        "any representation": "*",
    }


@pytest.mark.parametrize("form", list(_matching('"x"')))
async def test_if_none_match_answers_304(client, tenant, form):
    first = await _get(client, tenant.token, SPACES)
    etag = first.headers["etag"]
    again = await _get(client, tenant.token, SPACES, **{"If-None-Match": _matching(etag)[form]})
    assert again.status_code == 304, again.text
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert again.headers["vary"] == first.headers["vary"]


@pytest.mark.parametrize("sent", ['"0000"', 'W/"0000", "1111"', "not-a-tag", ""])
async def test_if_none_match_without_the_current_tag_answers_200(client, tenant, sent):
    first = await _get(client, tenant.token, SPACES)
    again = await _get(client, tenant.token, SPACES, **{"If-None-Match": sent})
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]


async def test_a_personal_read_is_revalidated_too(client, tenant):
    first = await _get(client, tenant.token, CONTACTS)
    weak = "W/" + first.headers["etag"]
    again = await _get(client, tenant.token, CONTACTS, **{"If-None-Match": weak})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["cache-control"] == "private, no-store"


async def test_a_widgets_weak_tag_answers_304(way, api, client, new_tenant, owner_url):
    from core.ids import encode_id
    from microspace.web.widget_documents import HASHES

    t = await new_tenant("W")
    space = (await make_spaces(owner_url, t.tenant_id, 1, status="published"))[0]
    key = await mint_key(api(t.token), "widget", [], spaceIds=[encode_id("Space", space)])
    extensions = by_hash(HASHES["WidgetSpace"])["extensions"]
    params = {
        "key": key,
        "variables": f'{{"id": "{encode_id("Space", space)}"}}',
        "extensions": str(extensions).replace("'", '"'),
    }
    first = await client.get("/graphql", params=params)
    assert first.status_code == 200 and first.json()["data"]["space"], first.text
    assert first.headers["cache-control"] == "public, max-age=60"
    again = await client.get(
        "/graphql", params=params, headers={"If-None-Match": "W/" + first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["cache-control"] == "public, max-age=60"


BLOCK_ADD = """mutation($s: ID!, $k: BlockKind!, $b: JSON!) {
  blockAdd(input: {spaceId: $s, kind: $k, body: $b}) { block { id } userErrors { code } } }"""
# what PostgreSQL writes with spaces (`"a" : 1`, `{"a": 1}`, `[1, 2]`): a JSON column,
# objects and lists built by the compiler, the viewer
EVERY_KIND_OF_JSON = """{
  viewer { __typename kind tenantId tenantName memberId email roles contactId }
  spaces(first: 5) { edges { cursor node { id title status createdAt
    blocks { edges { node { id kind position body content {
      __typename
      ... on HeadingBody { text level }
      ... on LinkBody { url label }
      ... on ChecklistBody { items { __typename text checked } }
    } } } } } }
    pageInfo { hasNextPage endCursor } }
  contacts(first: 5) { totalCount edges { node { id email fullName } } }
}"""


async def test_both_read_paths_write_the_same_bytes_and_etag(app, api, client, tenant):
    owner = api(tenant.token)
    space = (await owner("{ spaces(first: 1) { edges { node { id } } } }"))["data"]
    space_id = space["spaces"]["edges"][0]["node"]["id"]
    bodies = [
        ("CHECKLIST", {"items": [{"text": "Sign, then send", "checked": True}, {"text": "é"}]}),
        ("LINK", {"url": "https://example.com/a?b=1", "label": 'say "hi"\n'}),
        ("HEADING", {"text": "Title", "level": 3}),
    ]
    for kind, body in bodies:
        added = await owner(BLOCK_ADD, {"s": space_id, "k": kind, "b": body})
        assert added["data"]["blockAdd"]["userErrors"] == [], added

    reads = app.state.compiled_reads
    answers = []
    for compiled in (True, False):
        reads.enabled = compiled
        before = reads.compiled
        try:
            answers.append(await _get(client, tenant.token, EVERY_KIND_OF_JSON))
        finally:
            reads.enabled = True
        assert (reads.compiled > before) is compiled  # each path answered once
    by_compiler, by_resolvers = answers
    assert by_resolvers.status_code == 200 and "errors" not in by_resolvers.json()
    assert by_compiler.content == by_resolvers.content
    assert by_compiler.headers["etag"] == by_resolvers.headers["etag"]
    # compact, as orjson writes it
    assert b'": ' not in by_compiler.content and b'" : ' not in by_compiler.content


async def test_the_fast_lane_caches_alike(app, client, tenant):
    stack = await _get(client, tenant.token, SPACES)
    app.state.fast_lane.enabled = True
    answered = app.state.fast_lane.answered
    lane = await _get(client, tenant.token, SPACES)
    assert app.state.fast_lane.answered == answered + 1
    assert lane.content == stack.content
    for name in ("cache-control", "etag", "vary"):
        assert lane.headers.get(name) == stack.headers[name], name
    weak = {"If-None-Match": "W/" + stack.headers["etag"]}
    again = await _get(client, tenant.token, SPACES, **weak)
    assert app.state.fast_lane.answered == answered + 2
    assert again.status_code == 304 and again.content == b""


# -- the function itself (the fast lane calls it too) --------------------------------------


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        (' "x" , W/"abc"', True),
        ('"a,b", "abc"', True),  # a comma may stand inside a tag
        ('"x",,"abc"', True),  # empty list elements are allowed
        (" * ", True),
        ('"abc', False),
        ("abc", False),
        ('"ABC"', False),
        ('w/"abc"', False),  # `W/` is case-sensitive
        ("", False),
        (None, False),
    ],
)
def test_none_match_compares_weakly(header, matches):
    assert none_match(header, '"abc"') is matches


def test_the_caller_and_the_answer_decide_the_policy():
    body = b'{"data":{"spaces":null}}'

    def policy(caller: str, personal: bool = False, status: int = 200, body: bytes = body):
        caching = get_caching(
            {}, body, status=status, caller=caller, personal=personal, widget_max_age=30
        )
        return caching.headers["Cache-Control"]

    assert policy("member") == policy("partner") == policy("anonymous") == "private, no-cache"
    assert policy("member", personal=True) == "private, no-store"
    assert policy("widget", personal=True) == "private, no-store"
    assert policy("visitor") == "private, no-store"
    assert policy("widget") == "public, max-age=30"
    assert policy("widget", status=429) == "no-store"
    assert policy("widget", body=b'{"errors":[],"data":null}') == "no-store"
    assert policy("widget", body=b'{"data":{"errors":[]}}') == "public, max-age=30"


def test_an_answer_names_errors_by_its_first_key_only():
    assert names_errors(b'{"errors":[{"message":"x"}],"data":null}')
    assert names_errors(b'{"errors":[]}')
    for body in [b'{"data":{"errors":1}}', b'{"data":null}', b"", b'{"errors"', b' {"errors":[]}']:
        assert not names_errors(body), body


def test_json_columns_are_written_again_compactly():
    # JSONB texts as PostgreSQL writes them, between the marks compiler/sql.py puts around
    # a JSON column's text
    stored = [
        '{"text": "Sign, then send", "checked": true}',
        '{"a": null, "b": [1, 2.5, {"c": "\\": x"}], "d": "\\u0001 \u00e9"}',
        "[]",
        '"plain"',
    ]
    text = '{"k":[' + ",".join(f'{{"body":{MARK}{s}{MARK}}}' for s in stored) + "]}"
    expected = {"k": [{"body": orjson.loads(s)} for s in stored]}
    assert compact(text).encode() == orjson.dumps(expected)
