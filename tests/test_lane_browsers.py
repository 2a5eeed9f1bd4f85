"""The fast lane serves what browsers and widgets send, through HTTP.

Invariants:
- a POST with an `Origin` the credential allows is answered by the lane in the one round
  trip of a plain POST, with the CORS headers the stack would add;
- an origin the credential does not allow gets the stack's refusal (403
  ORIGIN_NOT_ALLOWED, no CORS headers) and nothing is read out or written, even for a
  document and a credential the lane knows; an origin taken off the tenant's list is
  refused from the very next request;
- a GET with a query text is answered by the lane with the whole way's body; a mutation
  over GET is refused as the whole way refuses it, and writes nothing;
- a preflight is answered by the front door by the CORS middleware's rules;
- a widget key's GET by the hash of a shipped document is answered by the lane with the
  whole way's body, caching headers and 304; a known widget key still runs trusted
  documents only.
"""

from __future__ import annotations

import orjson
from sqlalchemy import text

from core.ids import decode_id, encode_id
from microspace.commands.widget_admin import set_tenant_web
from microspace.web.widget_documents import DOCUMENTS, HASHES
from tests.conftest import error_codes
from tests.factories import make_space, make_spaces, mint_key
from tests.query_count import raw_statements

SHOP = "https://shop.example"
EVIL = "https://evil.example"
SPACE = """query Q($id: ID!) { space(id: $id) { id title
    blocks(first: 20) { edges { node { id kind position body } } } } }"""
UPDATE = """mutation U($id: ID!, $body: JSON!) { blockUpdate(input: {id: $id, body: $body}) {
    block { id body } userErrors { code message } } }"""


def _no_cors(response) -> None:
    assert not any(h.lower().startswith("access-control-") for h in response.headers)


async def _shop_tenant(new_tenant, owner_url, name):
    tenant = await new_tenant(name)
    await set_tenant_web(owner_url, str(tenant.tenant_id), [SHOP], None)
    space, blocks = await make_space(owner_url, tenant.tenant_id, blocks=2)
    return tenant, space, blocks


async def _body_of(owner_engine, block) -> dict:
    async with owner_engine.connect() as conn:
        row = await conn.execute(
            text("SELECT body FROM blocks WHERE id = :b"), {"b": decode_id(block, "Block")}
        )
        return row.scalar_one()


async def test_an_allowed_origin_takes_the_lanes_one_round_trip(
    app, client, new_tenant, owner_url, monkeypatch
):
    t, space, blocks = await _shop_tenant(new_tenant, owner_url, "Browser")
    headers = {"Authorization": f"Bearer {t.token}", "Origin": SHOP}
    read = {"query": SPACE, "variables": {"id": space}}
    write = {"query": UPDATE, "variables": {"id": blocks[0], "body": {"text": "one"}}}
    await client.post("/graphql", json=write, headers=headers)
    first_read = await client.post("/graphql", json=read, headers=headers)
    lane = app.state.fast_lane
    answered = lane.answered
    sent = raw_statements(monkeypatch)

    again = await client.post("/graphql", json=read, headers=headers)
    write["variables"]["body"] = {"text": "two"}
    written = await client.post("/graphql", json=write, headers=headers)

    assert lane.answered == answered + 2
    assert len(sent) == 2, sent  # as many as without an Origin: the check is in the statement
    # and in its one credential lookup (migrations 0051, 0055), not a second one
    assert not any("app_cors_origins" in statement for statement in sent), sent
    assert again.json() == first_read.json()
    assert written.json()["data"]["blockUpdate"]["block"]["body"]["text"] == "two"
    for response in (again, written):
        assert response.headers["access-control-allow-origin"] == SHOP
        assert "Origin" in response.headers["vary"]
        assert "x-request-id" in response.headers


async def test_a_refused_origin_reads_and_writes_nothing_on_the_lane(
    app, client, new_tenant, owner_url, owner_engine
):
    t, space, blocks = await _shop_tenant(new_tenant, owner_url, "Refused")
    auth = {"Authorization": f"Bearer {t.token}"}
    read = {"query": SPACE, "variables": {"id": space}}
    write = {"query": UPDATE, "variables": {"id": blocks[0], "body": {"text": "kept"}}}
    for _ in range(2):  # the lane knows the credential and both documents
        await client.post("/graphql", json=read, headers={**auth, "Origin": SHOP})
        await client.post("/graphql", json=write, headers={**auth, "Origin": SHOP})
    lane = app.state.fast_lane
    answered = lane.answered

    write["variables"]["body"] = {"text": "stolen"}
    for body in (read, write):
        refused = await client.post("/graphql", json=body, headers={**auth, "Origin": EVIL})
        assert refused.status_code == 403
        assert error_codes(refused.json()) == ["ORIGIN_NOT_ALLOWED"]
        assert SPACE not in refused.text and "blocks" not in refused.text
        _no_cors(refused)
    assert lane.answered == answered
    assert (await _body_of(owner_engine, blocks[0]))["text"] == "kept"

    # taken off the tenant's list: refused from the next request on, though the lane knew it
    await client.post("/graphql", json=read, headers={**auth, "Origin": SHOP})
    await set_tenant_web(owner_url, str(t.tenant_id), [], None)
    gone = await client.post("/graphql", json=write, headers={**auth, "Origin": SHOP})
    assert gone.status_code == 403 and error_codes(gone.json()) == ["ORIGIN_NOT_ALLOWED"]
    assert (await _body_of(owner_engine, blocks[0]))["text"] == "kept"


async def test_a_get_with_a_query_text_is_answered_by_the_lane(app, client, new_tenant, owner_url):
    t, space, _ = await _shop_tenant(new_tenant, owner_url, "Getter")
    auth = {"Authorization": f"Bearer {t.token}"}
    params = {"query": SPACE, "variables": orjson.dumps({"id": space}).decode()}
    posted = await client.post(
        "/graphql", json={"query": SPACE, "variables": {"id": space}}, headers=auth
    )
    first = await client.get("/graphql", params=params, headers=auth)
    lane = app.state.fast_lane
    answered = lane.answered

    again = await client.get("/graphql", params=params, headers=auth)
    browser = await client.get("/graphql", params=params, headers={**auth, "Origin": SHOP})
    refused = await client.get("/graphql", params=params, headers={**auth, "Origin": EVIL})

    assert lane.answered == answered + 2
    assert again.status_code == first.status_code == browser.status_code == 200
    assert again.content == first.content == browser.content == posted.content
    for header in ("cache-control", "etag", "content-type"):
        assert again.headers.get(header) == first.headers.get(header), header
    assert browser.headers["access-control-allow-origin"] == SHOP
    assert refused.status_code == 403 and error_codes(refused.json()) == ["ORIGIN_NOT_ALLOWED"]
    _no_cors(refused)


async def test_a_mutation_over_get_is_refused_even_when_the_lane_knows_it(
    app, client, new_tenant, owner_url, owner_engine
):
    t, _, blocks = await _shop_tenant(new_tenant, owner_url, "NoGetWrites")
    auth = {"Authorization": f"Bearer {t.token}"}
    variables = {"id": blocks[0], "body": {"text": "posted"}}
    for _ in range(2):
        await client.post("/graphql", json={"query": UPDATE, "variables": variables}, headers=auth)
    params = {
        "query": UPDATE,
        "variables": orjson.dumps({**variables, "body": {"text": "got"}}).decode(),
    }
    answered = app.state.fast_lane.answered

    refused = await client.get("/graphql", params=params, headers=auth)

    assert refused.status_code == 405 and error_codes(refused.json()) == ["MUTATION_OVER_GET"]
    assert app.state.fast_lane.answered == answered
    assert (await _body_of(owner_engine, blocks[0]))["text"] == "posted"


async def test_a_preflight_is_answered_at_the_front_door_by_the_cors_rules(
    client, new_tenant, owner_url
):
    await _shop_tenant(new_tenant, owner_url, "Preflight")
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = await client.options("/graphql", headers={"Origin": SHOP, **ask})
    refused = await client.options("/graphql", headers={"Origin": EVIL, **ask})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == SHOP
    assert allowed.headers["access-control-max-age"] == "600"
    assert "x-request-id" in allowed.headers
    assert refused.status_code == 403
    _no_cors(refused)


def _widget_params(key: str, space: str) -> dict[str, str]:
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": HASHES["WidgetSpace"]}}
    return {
        "key": key,
        "operationName": "WidgetSpace",
        "variables": orjson.dumps({"id": space}).decode(),
        "extensions": orjson.dumps(persisted).decode(),
    }


async def test_a_widgets_get_by_hash_is_answered_by_the_lane_with_the_same_caching(
    app, api, client, new_tenant, owner_url
):
    t = await new_tenant("WidgetLane")
    published, draft = [
        encode_id(
            "Space", (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=2, status=s))[0]
        )
        for s in ("published", "draft")
    ]
    key = await mint_key(
        api(t.token), "widget", [], spaceIds=[published, draft], allowedOrigins=[SHOP]
    )
    params = _widget_params(key, published)
    first = await client.get("/graphql", params=params, headers={"Origin": SHOP})
    lane = app.state.fast_lane
    answered = lane.answered

    again = await client.get("/graphql", params=params, headers={"Origin": SHOP})
    etag = again.headers["etag"]
    not_modified = await client.get(
        "/graphql", params=params, headers={"Origin": SHOP, "If-None-Match": f"W/{etag}"}
    )
    refused = await client.get("/graphql", params=params, headers={"Origin": EVIL})
    hidden = await client.get("/graphql", params=_widget_params(key, draft))

    assert lane.answered == answered + 2
    assert again.content == first.content and again.json()["data"]["space"]["id"] == published
    for header in ("cache-control", "etag", "vary", "access-control-allow-origin"):
        assert again.headers[header] == first.headers[header], header
    assert again.headers["cache-control"].startswith("public, max-age=")
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert refused.status_code == 403 and error_codes(refused.json()) == ["ORIGIN_NOT_ALLOWED"]
    assert error_codes(hidden.json()) == ["NOT_FOUND"]
    assert hidden.headers["cache-control"] == "no-store"


async def test_a_known_widget_key_still_runs_trusted_documents_only(
    app, api, client, new_tenant, owner_url
):
    t = await new_tenant("WidgetText")
    space = encode_id(
        "Space",
        (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=1, status="published"))[0],
    )
    key = await mint_key(api(t.token), "widget", [], spaceIds=[space], allowedOrigins=[SHOP])
    for _ in range(2):  # the lane knows the key
        await client.get("/graphql", params=_widget_params(key, space))
    answered = app.state.fast_lane.answered
    # not a trusted document's text (a shipped document's text is, as its hash)
    untrusted = DOCUMENTS["WidgetSpace"].replace("title ", "")
    text_query = {"query": untrusted, "variables": {"id": space}}
    for _ in range(2):  # the lane knows the document too, from a member
        owner = {"Authorization": f"Bearer {t.token}"}
        assert (await client.post("/graphql", json=text_query, headers=owner)).status_code == 200
    answered = app.state.fast_lane.answered

    posted = await client.post(
        "/graphql", json=text_query, headers={"Authorization": f"Bearer {key}"}
    )
    got = await client.get(
        "/graphql",
        params={
            "key": key,
            "query": untrusted,
            "variables": orjson.dumps({"id": space}).decode(),
        },
    )

    assert error_codes(posted.json()) == ["PERSISTED_QUERY_REQUIRED"]
    assert error_codes(got.json()) == ["PERSISTED_QUERY_REQUIRED"]
    assert app.state.fast_lane.answered == answered


def test_the_lanes_query_parameters_are_starlettes():
    """The lane reads a GET's parameters as the whole way's Starlette does."""
    from starlette.datastructures import QueryParams

    from microspace.lane.lane import key_param, query_params

    cases = [
        b"",
        b"query=%7B+viewer+%7B+kind+%7D+%7D&variables=%7B%7D",
        b"query=a&query=b&&=x&empty=&bare&%ZZ=1&plus=a+b%2Bc",
        b"operationName=%C3%A9t%C3%A9&x=%E2%82%AC%FF&semi=a;b",
        b"a=" + b"%41" * 20_000 + b"&b=1",
        "naïve=ünïcode".encode(),
    ]
    keys = [
        b"key=abc&query=x",
        b"query=x&key=first&key=second",
        b"%6Bey=encoded&query=x",
        b"k%65y=a+b%2Bc",
        b"key&query=x",
        b"key=&query=x",
        b"keys=no&monkey=no&key%20=no",
        b"query=%7B+key+%7D&variables=%7B%22key%22%3A1%7D",
    ]
    for raw in cases + keys:
        assert query_params(raw) == dict(QueryParams(raw).items()), raw
        assert query_params(raw) == dict(QueryParams(raw).items()), raw  # decoded, then kept
        # the widget key the lane reads before anything else, as Starlette reads it
        assert key_param(raw) == QueryParams(raw).get("key"), raw


async def test_a_write_answered_by_the_lane_is_the_whole_ways_bytes(
    app, client, new_tenant, owner_url
):
    """One answer, one spelling: the lane writes a payload's JSON columns (a block's body) as
    the whole way does, so its bytes, and an ETag made of them, do not depend on the way."""
    t, _, blocks = await _shop_tenant(new_tenant, owner_url, "Bytes")
    auth = {"Authorization": f"Bearer {t.token}"}
    write = {"query": UPDATE, "variables": {"id": blocks[0], "body": {"text": "same", "level": 2}}}
    whole = await client.post("/graphql", json=write, headers=auth)
    answered = app.state.fast_lane.answered
    lane = await client.post("/graphql", json=write, headers=auth)
    assert app.state.fast_lane.answered == answered + 1
    assert lane.content == whole.content and b'": "' not in lane.content
