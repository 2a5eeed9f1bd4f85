"""CORS through HTTP, per credential.

Invariants:
- a widget key's allowed origins, exactly, get `Access-Control-Allow-Origin: <origin>`;
  never a wildcard, never `Access-Control-Allow-Credentials`; every answer varies on Origin;
- any other origin gets no CORS headers, and its request is not run (ORIGIN_NOT_ALLOWED);
- member tokens are same-origin unless the tenant allows an origin list;
- a visitor session may be used from its tenant's widget origins.
"""

from __future__ import annotations

import uuid

from core.ids import encode_id
from microspace.commands.widget_admin import set_tenant_web
from microspace.web.widget_documents import HASHES
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_spaces, mint_key
from tests.widgets import by_hash, open_visitor

SHOP = "https://shop.example"
EVIL = "https://evil.example"
VIEWER = {"query": "{ viewer { kind } }"}


async def _widget(api, new_tenant, owner_url):
    t = await new_tenant("C")
    space = (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=1, status="published"))[0]
    gid = encode_id("Space", space)
    key = await mint_key(api(t.token), "widget", [], spaceIds=[gid], allowedOrigins=[SHOP])
    return t, key, space, gid


def _no_cors(response) -> None:
    assert not any(h.lower().startswith("access-control-") for h in response.headers)


async def test_preflight_answers_the_keys_origins_exactly(api, client, new_tenant, owner_url):
    _t, key, _, _ = await _widget(api, new_tenant, owner_url)
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }

    allowed = await client.options(f"/graphql?key={key}", headers={"Origin": SHOP, **ask})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == SHOP
    assert "access-control-allow-credentials" not in allowed.headers
    assert allowed.headers["vary"] == "Origin"

    for origin in (EVIL, SHOP + ":8443", "https://SHOP.example", "null", SHOP + "/"):
        refused = await client.options(f"/graphql?key={key}", headers={"Origin": origin, **ask})
        assert refused.status_code == 403, origin
        _no_cors(refused)


async def test_requests_get_cors_headers_only_for_allowed_origins(
    api, client, new_tenant, owner_url
):
    _t, key, _, gid = await _widget(api, new_tenant, owner_url)
    body = by_hash(HASHES["WidgetSpace"], {"id": gid})

    ok = await client.post(f"/graphql?key={key}", json=body, headers={"Origin": SHOP})
    assert ok.status_code == 200 and ok.json()["data"]["space"]["id"] == gid
    assert ok.headers["access-control-allow-origin"] == SHOP
    assert "access-control-allow-credentials" not in ok.headers
    assert "Origin" in ok.headers["vary"]

    refused = await client.post(f"/graphql?key={key}", json=body, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert error_codes(refused.json()) == ["ORIGIN_NOT_ALLOWED"]
    _no_cors(refused)


async def test_member_tokens_are_same_origin_unless_the_tenant_allows(
    api, client, new_tenant, owner_url
):
    t = await new_tenant("M")
    auth = {"Authorization": f"Bearer {t.token}"}
    same = await client.post("/graphql", json=VIEWER, headers={**auth, "Origin": "http://test"})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers

    cross = await client.post("/graphql", json=VIEWER, headers={**auth, "Origin": SHOP})
    assert cross.status_code == 403
    _no_cors(cross)

    await set_tenant_web(owner_url, str(t.tenant_id), ["https://app.shop.example"], None)
    app = await client.post(
        "/graphql", json=VIEWER, headers={**auth, "Origin": "https://app.shop.example"}
    )
    assert app.status_code == 200
    assert app.headers["access-control-allow-origin"] == "https://app.shop.example"
    preflight = await client.options(
        "/graphql",
        headers={"Origin": "https://app.shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == "https://app.shop.example"


async def test_a_malformed_tenant_origin_is_refused(new_tenant, owner_url):
    import pytest

    from microspace.commands.tenants import OperatorError

    t = await new_tenant("X")
    for bad in ("shop.example", "https://shop.example/", "*", "https://u@shop.example"):
        with pytest.raises(OperatorError):
            await set_tenant_web(owner_url, str(t.tenant_id), [bad], None)


async def test_visitor_sessions_work_from_the_tenants_widget_origins(
    api, client, new_tenant, owner_url, settings
):
    t, key, space, _ = await _widget(api, new_tenant, owner_url)
    contact = (await make_contacts(owner_url, t.tenant_id, 1))[0]
    await make_access(owner_url, t.tenant_id, space, [contact])
    session = await open_visitor(client, settings.secret(), t.tenant_id, space, contact)
    auth = {"Authorization": f"Bearer {session['visitorToken']}"}
    body = by_hash(HASHES["VisitorConsent"], {"contactId": session["contactId"]})

    ok = await client.post(f"/graphql?key={key}", json=body, headers={**auth, "Origin": SHOP})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SHOP
    refused = await client.post(f"/graphql?key={key}", json=body, headers={**auth, "Origin": EVIL})
    assert refused.status_code == 403
    _no_cors(refused)


async def test_an_unknown_credential_gets_no_cors(client):
    fake = "msw_" + uuid.uuid4().hex
    response = await client.post(f"/graphql?key={fake}", json=VIEWER, headers={"Origin": SHOP})
    assert response.status_code == 403
    _no_cors(response)


async def test_only_a_widget_key_is_read_from_the_url(api, client, new_tenant, owner_url):
    """A member token in `?key=` is not a credential: no origin is allowed for it."""
    t = await new_tenant("U")
    await set_tenant_web(owner_url, str(t.tenant_id), ["https://app.shop.example"], None)
    ask = {"Origin": "https://other.example", "Access-Control-Request-Method": "POST"}
    preflight = await client.options(f"/graphql?key={t.token}", headers=ask)
    assert preflight.status_code == 403
    _no_cors(preflight)
    request = await client.post(
        f"/graphql?key={t.token}", json=VIEWER, headers={"Origin": "https://app.shop.example"}
    )
    assert request.status_code == 403 and error_codes(request.json()) == ["ORIGIN_NOT_ALLOWED"]


async def test_the_fast_lane_answers_an_allowed_origin_with_its_cors_headers(
    app, api, client, new_tenant, owner_url
):
    """The lane's one entrance decides CORS by the same rules: an allowed origin is answered
    by the lane with the headers the stack would add; a refused one never reaches it."""
    t = await new_tenant("Lane")
    await set_tenant_web(owner_url, str(t.tenant_id), [SHOP], None)
    auth = {"Authorization": f"Bearer {t.token}"}
    query = {"query": "query LaneCors { spaces(first: 1) { totalCount } }"}
    lane = app.state.fast_lane
    first = await client.post("/graphql", json=query, headers={**auth, "Origin": SHOP})
    answered = lane.answered

    again = await client.post("/graphql", json=query, headers={**auth, "Origin": SHOP})
    assert lane.answered == answered + 1
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["access-control-allow-origin"] == SHOP
    assert (
        again.headers["access-control-expose-headers"]
        == first.headers["access-control-expose-headers"]
    )
    assert "Origin" in again.headers["vary"]

    refused = await client.post("/graphql", json=query, headers={**auth, "Origin": EVIL})
    assert lane.answered == answered + 1
    assert refused.status_code == 403
    assert error_codes(refused.json()) == ["ORIGIN_NOT_ALLOWED"]
    _no_cors(refused)


async def test_a_browser_request_costs_the_whole_way_no_statement_more(
    app, client, new_tenant, owner_url
):
    """The origin is checked in the statement that authenticates the credential, not in a
    transaction of its own: the whole way sends as many statements for a page on an
    allowed origin as for a server, and refuses another origin before anything runs."""
    from tests.query_count import count_statements

    t = await new_tenant("Counted")
    await set_tenant_web(owner_url, str(t.tenant_id), [SHOP], None)
    auth = {"Authorization": f"Bearer {t.token}"}
    engine = app.state.microspace.engine
    lane = app.state.fast_lane
    lane.enabled = False  # the whole way, every time
    try:
        await client.post("/graphql", json=VIEWER, headers=auth)  # the session start
        with count_statements(engine) as plain:
            server = await client.post("/graphql", json=VIEWER, headers=auth)
        with count_statements(engine) as browser:
            page = await client.post("/graphql", json=VIEWER, headers={**auth, "Origin": SHOP})
        with count_statements(engine) as refused:
            evil = await client.post("/graphql", json=VIEWER, headers={**auth, "Origin": EVIL})
    finally:
        lane.enabled = True
    assert server.json() == page.json() and page.headers["access-control-allow-origin"] == SHOP
    assert len(browser) == len(plain), (plain, browser)
    assert evil.status_code == 403 and error_codes(evil.json()) == ["ORIGIN_NOT_ALLOWED"]
    _no_cors(evil)
    assert len(refused) <= len(plain)


async def test_a_refused_origin_runs_nothing_on_the_whole_way(
    app, client, new_tenant, owner_url, owner_engine
):
    """The origin is decided in the credential's authentication, before the operation: a
    write from a page the credential does not allow changes nothing (no fast lane here)."""
    from sqlalchemy import text

    from core.ids import decode_id
    from tests.factories import make_space

    t = await new_tenant("NoRun")
    await set_tenant_web(owner_url, str(t.tenant_id), [SHOP], None)
    _, blocks = await make_space(owner_url, t.tenant_id, blocks=1)
    update = {
        "query": "mutation($id: ID!, $b: JSON!) { blockUpdate(input: {id: $id, body: $b}) "
        "{ block { id } } }",
        "variables": {"id": blocks[0], "b": {"text": "stolen"}},
    }
    lane = app.state.fast_lane
    lane.enabled = False
    try:
        refused = await client.post(
            "/graphql", json=update, headers={"Authorization": f"Bearer {t.token}", "Origin": EVIL}
        )
    finally:
        lane.enabled = True
    assert refused.status_code == 403 and error_codes(refused.json()) == ["ORIGIN_NOT_ALLOWED"]
    _no_cors(refused)
    async with owner_engine.connect() as conn:
        body = await conn.scalar(
            text("SELECT body FROM blocks WHERE id = :b"), {"b": decode_id(blocks[0], "Block")}
        )
    assert body["text"] != "stolen"
