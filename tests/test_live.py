"""Subscriptions over `graphql-transport-ws` (microspace/live/), through a real server and
real PostgreSQL NOTIFY, with the protocol's own messages.

Invariants guarded here:
- a member's `spaceChanged` receives a change made by a mutation, and the payload is exactly
  the answer the same selection gives as a query, redaction report included;
- another tenant's subscription to the same topic receives nothing;
- a revoked credential closes the socket with 4401 at the next event; a subscribe before
  `connection_init` is 4401, a second `connection_init` 4429, an unknown message 4400;
- a widget key may subscribe only by a trusted document, and follows publishes;
- topics for members are refused to a role that may not read them (FORBIDDEN), and a
  subscription beyond the per-connection limit gets an `error`, the socket stays open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.ids import encode_id
from tests.factories import make_spaces, mint_key
from tests.live_client import closed_with, connect, message, nothing_within, subscribe
from tests.ports import serve
from tests.widgets import REGISTER, sha256

SPACE_FIELDS = "id title description status"
CHANGED = f"subscription($id: ID!) {{ spaceChanged(id: $id) {{ {SPACE_FIELDS} }} }}"
AS_QUERY = f"query($id: ID!) {{ spaceChanged: space(id: $id) {{ {SPACE_FIELDS} }} }}"
UPDATE = (
    "mutation($id: ID!, $t: String!) { spaceUpdate(input: {id: $id, title: $t}) { space { id } } }"
)
PUBLISH = "mutation($id: ID!) { spacePublish(id: $id) { space { id } } }"
REVOKE = "mutation($id: ID!) { apiKeyRevoke(id: $id) { apiKey { id } } }"


@pytest.fixture
async def server(app) -> AsyncIterator[str]:
    running, task, port = await serve(app)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        running.should_exit = True
        await task


async def _space(owner_url, tenant_id, status="draft") -> str:
    return encode_id("Space", (await make_spaces(owner_url, tenant_id, 1, status=status))[0])


async def test_member_receives_a_change_as_the_same_query_answers(
    server, api, new_tenant, owner_url
):
    # given a member subscribed to a space, and a member of another tenant subscribed too
    t, other = await new_tenant("Live"), await new_tenant("Other")
    sid = await _space(owner_url, t.tenant_id)
    ws = await connect(server, t.token)
    await subscribe(ws, "1", CHANGED, {"id": sid})
    stranger = await connect(server, other.token)
    await subscribe(stranger, "1", CHANGED, {"id": sid})
    await asyncio.sleep(0.3)
    # when the space changes
    owner = api(t.token)
    result = await owner(UPDATE, {"id": sid, "t": "Renamed live"})
    assert "errors" not in result, result
    # then the subscriber gets what the query answers now
    got = await message(ws)
    assert got["type"] == "next" and got["id"] == "1"
    assert got["payload"] == await owner(AS_QUERY, {"id": sid})
    assert got["payload"]["data"]["spaceChanged"]["title"] == "Renamed live"
    # and the other tenant's subscriber nothing
    assert await nothing_within(stranger, 1.0)
    await ws.close()
    await stranger.close()


async def test_protocol_errors_close_with_their_codes(server, new_tenant, owner_url):
    t = await new_tenant("Proto")
    ws = await connect(server, None, init=False)
    await subscribe(ws, "1", CHANGED, {"id": "x"})
    assert (await closed_with(ws))[0] == 4401
    ws = await connect(server, t.token)
    await ws.send('{"type": "connection_init"}')
    assert (await closed_with(ws))[0] == 4429
    ws = await connect(server, t.token)
    await ws.send('{"type": "nonsense"}')
    assert (await closed_with(ws))[0] == 4400
    ws = await connect(server, "msm_not-a-token", init=False)
    await ws.send('{"type": "connection_init", "payload": {"authorization": "Bearer msm_no"}}')
    assert (await closed_with(ws))[0] == 4401


async def test_revoked_key_closes_the_socket_at_the_next_event(server, api, new_tenant, owner_url):
    t = await new_tenant("Revoke")
    sid = await _space(owner_url, t.tenant_id)
    owner = api(t.token)
    key = await mint_key(owner, "partner", ["spaces:read"])
    keys = await owner("{ apiKeys(first: 5) { edges { node { id } } } }")
    key_id = keys["data"]["apiKeys"]["edges"][0]["node"]["id"]
    ws = await connect(server, key)
    await subscribe(ws, "s", CHANGED, {"id": sid})
    await asyncio.sleep(0.3)
    await owner(UPDATE, {"id": sid, "t": "Before"})
    assert (await message(ws))["payload"]["data"]["spaceChanged"]["title"] == "Before"
    # when the key is revoked, then the next event closes the socket
    revoked = await owner(REVOKE, {"id": key_id})
    assert "errors" not in revoked, revoked
    await owner(UPDATE, {"id": sid, "t": "After"})
    code, reason = await closed_with(ws)
    assert code == 4401 and "REVOKED" in reason


async def test_widget_subscribes_by_trusted_document_and_follows_publishes(
    server, api, new_tenant, owner_url
):
    t = await new_tenant("Widget")
    owner = api(t.token)
    sid = await _space(owner_url, t.tenant_id)
    key = await mint_key(
        owner, "widget", [], spaceIds=[sid], allowedOrigins=["https://shop.example"]
    )
    document = "subscription W($id: ID!) { spaceChanged(id: $id) { id title } }"
    ws = await connect(server, key, origin="https://shop.example")
    # an untrusted document is refused, the socket stays open
    await subscribe(ws, "1", document, {"id": sid})
    refused = await message(ws)
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    registered = await owner(REGISTER, {"input": {"document": document}})
    assert registered["data"]["persistedDocumentRegister"]["userErrors"] == [], registered
    ext = {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}
    await subscribe(ws, "2", None, {"id": sid}, extensions=ext)
    await asyncio.sleep(0.3)
    # a draft edit is not the widget's to see; the publish is
    await owner(UPDATE, {"id": sid, "t": "Draft edit"})
    assert await nothing_within(ws, 1.0)
    published = await owner(PUBLISH, {"id": sid})
    assert "errors" not in published, published
    got = await message(ws)
    assert got["id"] == "2", got
    assert got["payload"] == {"data": {"spaceChanged": {"id": sid, "title": "Draft edit"}}}
    await ws.close()


async def test_origin_not_allowed_is_refused_at_the_upgrade(server, api, new_tenant, owner_url):
    import websockets

    t = await new_tenant("Origin")
    sid = await _space(owner_url, t.tenant_id, status="published")
    key = await mint_key(
        api(t.token), "widget", [], spaceIds=[sid], allowedOrigins=["https://a.example"]
    )
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(server + f"?key={key}", None, origin="https://evil.example", init=False)
    assert refused.value.response.status_code == 403
    # a known origin opens, but the credential of another origin's page is refused (4403)
    other = await mint_key(
        api(t.token), "widget", [], spaceIds=[sid], allowedOrigins=["https://b.example"]
    )
    ws = await connect(server, None, origin="https://b.example", init=False)
    await ws.send(f'{{"type": "connection_init", "payload": {{"authorization": "Bearer {key}"}}}}')
    assert (await closed_with(ws))[0] == 4403
    assert other


async def test_member_topics_need_their_permission_and_limits_answer_errors(
    server, api, new_tenant, new_member, owner_url
):
    t = await new_tenant("Roles")
    viewer = await new_member(t.tenant_id, "viewer")
    ws = await connect(server, viewer.token)
    await subscribe(ws, "1", "subscription { subjectRequestUpdated { id } }")
    refused = await message(ws)
    assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    sid = await _space(owner_url, t.tenant_id)
    for i in range(100):
        await subscribe(ws, f"s{i}", CHANGED, {"id": sid})
    await subscribe(ws, "s100", CHANGED, {"id": sid})
    limited = await message(ws)
    assert limited["id"] == "s100"
    assert limited["payload"][0]["extensions"]["code"] == "SUBSCRIPTION_LIMIT"
    await ws.close()


async def test_a_changed_policy_takes_effect_at_the_next_event(
    server, api, new_tenant, new_member, owner_url
):
    from tests.factories import make_access, make_contacts

    # given an editor following a space shared with a contact, whose name editors read
    t = await new_tenant("Policy")
    space_id = (await make_spaces(owner_url, t.tenant_id, 1))[0]
    sid = encode_id("Space", space_id)
    await make_access(
        owner_url, t.tenant_id, space_id, await make_contacts(owner_url, t.tenant_id, 1)
    )
    editor = await new_member(t.tenant_id, "editor")
    selection = "id title contacts(first: 5) { edges { node { contact { fullName } } } }"
    document = f"subscription($id: ID!) {{ spaceChanged(id: $id) {{ {selection} }} }}"
    as_query = f"query($id: ID!) {{ spaceChanged: space(id: $id) {{ {selection} }} }}"
    ws = await connect(server, editor.token)
    await subscribe(ws, "1", document, {"id": sid})
    await asyncio.sleep(0.3)
    owner = api(t.token)
    await owner(UPDATE, {"id": sid, "t": "One"})
    first = (await message(ws))["payload"]
    name = first["data"]["spaceChanged"]["contacts"]["edges"][0]["node"]["contact"]["fullName"]
    assert name
    # when the tenant's policy stops editors reading names
    denied = await owner(
        'mutation { policyRuleSet(input: {subject: "editor", object: "Contact.fullName", '
        'action: "read", effect: DENY}) { rule { id } userErrors { code } } }'
    )
    assert denied["data"]["policyRuleSet"]["userErrors"] == [], denied
    await owner(UPDATE, {"id": sid, "t": "Two"})
    # then the next payload withholds it, exactly as the query now does
    second = (await message(ws))["payload"]
    contact = second["data"]["spaceChanged"]["contacts"]["edges"][0]["node"]["contact"]
    assert contact["fullName"] is None
    assert second == await api(editor.token)(as_query, {"id": sid})
    await ws.close()
