"""The fast lane (microspace/lane/lane.py) answers as the whole way does, through HTTP.

Invariants:
- a repeated query is answered by the fast lane with the body and the rate-limit headers the
  whole way gives;
- a revoked token, a changed role and a changed tenant policy count from the very next
  request: the fast lane never answers with what a credential could do before;
- another tenant's token sending a known document gets its own tenant's answer (NOT_FOUND
  for a foreign ID, exactly as a random ID);
- personal data it discloses is audited as the whole way audits it: one entry per request,
  committed before the answer leaves, for the principal the database vouched for; a read
  it hands to the whole way has written none (the whole way audits it, once);
- `blockUpdate` through the fast lane writes the body and its domain event; a foreign ID, an
  invalid body and a denied role get the whole way's answers, and nothing is written;
- a read that discloses no personal data and a write take one round trip each: the
  statement scopes itself to its tenant, and the credential check in it sees only that
  tenant's tokens.
"""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from sqlalchemy import text

from core.auth import hash_token
from core.ids import encode_id
from microspace.commands.widget_admin import set_tenant_web
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_space, make_spaces
from tests.query_count import raw_statements

SPACE = """query Q($id: ID!) { space(id: $id) { id title
    blocks(first: 20) { edges { node { id kind position body } } } } }"""
CONTACTS = """query C { spaces(first: 5) { edges { node { id
    contacts { edges { node { contact { id email fullName } } } } } } } }"""
UPDATE = """mutation U($id: ID!, $body: JSON!) { blockUpdate(input: {id: $id, body: $body}) {
    block { id kind position body } userErrors { code message } } }"""


def lane(app):
    return app.state.fast_lane


async def _twice(api, token, query, variables=None):
    """The whole way's answer, then the same request again (the fast lane's, if it may)."""
    first = await api(token).post(query, variables)
    second = await api(token).post(query, variables)
    return first, second


async def test_a_repeated_query_is_answered_alike_by_the_fast_lane(app, api, new_tenant, owner_url):
    owner = await new_tenant("Fast")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=3)
    answered = lane(app).answered
    first, second = await _twice(api, owner.token, SPACE, {"id": space})
    assert lane(app).answered == answered + 1
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(second.json()["data"]["space"]["blocks"]["edges"]) == 3
    for header in ("ratelimit-limit", "ratelimit-policy", "content-type", "x-request-id"):
        assert header in second.headers
    assert first.headers["content-type"] == second.headers["content-type"]


async def test_a_revoked_token_is_refused_on_the_next_request(
    app, api, new_tenant, owner_url, owner_engine
):
    owner = await new_tenant("Revoked")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=1)
    await _twice(api, owner.token, SPACE, {"id": space})
    await _revoke(owner_engine, owner.member_id)
    answered = lane(app).answered
    response = await api(owner.token).post(SPACE, {"id": space})
    assert lane(app).answered == answered
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert response.json().get("data") in (None, {"space": None})


async def test_a_changed_role_is_seen_on_the_next_request(
    app, api, new_tenant, new_member, owner_url, owner_engine
):
    owner = await new_tenant("Role")
    sid = (await make_spaces(owner_url, owner.tenant_id, 1))[0]
    contacts = await make_contacts(owner_url, owner.tenant_id, 2)
    await make_access(owner_url, owner.tenant_id, sid, contacts)
    member = await new_member(owner.tenant_id, "owner")
    first, second = await _twice(api, member.token, CONTACTS)
    assert first.json() == second.json()
    emails = [
        e["node"]["contact"]["email"]
        for e in second.json()["data"]["spaces"]["edges"][0]["node"]["contacts"]["edges"]
    ]
    assert all("@example.com" in e for e in emails)
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE members SET role = 'editor' WHERE id = :m"), {"m": member.member_id}
        )
    masked = (await api(member.token).post(CONTACTS)).json()
    edges = masked["data"]["spaces"]["edges"][0]["node"]["contacts"]["edges"]
    assert edges and all(e["node"]["contact"]["email"] not in emails for e in edges)
    # and the next requests, answered by the fast lane again, stay with the new role
    again = (await api(member.token).post(CONTACTS)).json()
    assert again == masked


async def test_a_changed_policy_is_seen_on_the_next_request(app, api, new_tenant, owner_url):
    owner = await new_tenant("Policy")
    sid = (await make_spaces(owner_url, owner.tenant_id, 1))[0]
    contacts = await make_contacts(owner_url, owner.tenant_id, 1)
    await make_access(owner_url, owner.tenant_id, sid, contacts)
    first, second = await _twice(api, owner.token, CONTACTS)
    assert first.json() == second.json()
    assert "extensions" not in second.json()
    rule = """mutation { policyRuleSet(input: {subject: "owner", object: "Contact.email",
        action: "read", effect: DENY}) { rule { id } userErrors { code } } }"""
    assert (await api(owner.token)(rule))["data"]["policyRuleSet"]["userErrors"] == []
    after = (await api(owner.token).post(CONTACTS)).json()
    email = after["data"]["spaces"]["edges"][0]["node"]["contacts"]["edges"][0]["node"]["contact"]
    assert email["email"].startswith("c***@")  # masked: full reads are denied now
    assert (await api(owner.token).post(CONTACTS)).json() == after


async def test_another_tenants_token_gets_its_own_tenants_answer(app, api, new_tenant, owner_url):
    a = await new_tenant("A")
    b = await new_tenant("B")
    space_a, _ = await make_space(owner_url, a.tenant_id, blocks=2)
    space_b, _ = await make_space(owner_url, b.tenant_id, blocks=1)
    await _twice(api, a.token, SPACE, {"id": space_a})
    await _twice(api, b.token, SPACE, {"id": space_b})
    answered = lane(app).answered
    foreign = (await api(b.token).post(SPACE, {"id": space_a})).json()
    random = (await api(b.token).post(SPACE, {"id": encode_id("Space", uuid.uuid4())})).json()
    assert error_codes(foreign) == error_codes(random) == ["NOT_FOUND"]
    assert foreign["data"] == random["data"]
    own = (await api(b.token).post(SPACE, {"id": space_b})).json()
    assert own["data"]["space"]["id"] == space_b
    assert len(own["data"]["space"]["blocks"]["edges"]) == 1
    assert lane(app).answered == answered + 1  # only its own space; not found went the whole way


async def _audit_rows(owner_engine, tenant_id):
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT operation, fields, subject_contact_ids FROM audit_log "
                "WHERE tenant_id = :t AND operation = 'read' ORDER BY seq"
            ),
            {"t": tenant_id},
        )
        return [(r[0], sorted(r[1]), sorted(map(str, r[2]))) for r in rows]


async def test_disclosed_personal_data_is_audited_alike(
    app, api, new_tenant, owner_url, owner_engine
):
    owner = await new_tenant("Audit")
    sid = (await make_spaces(owner_url, owner.tenant_id, 1))[0]
    contacts = await make_contacts(owner_url, owner.tenant_id, 3)
    await make_access(owner_url, owner.tenant_id, sid, contacts)
    answered = lane(app).answered
    await _twice(api, owner.token, CONTACTS)
    assert lane(app).answered == answered + 1
    rows = await _audit_rows(owner_engine, owner.tenant_id)
    assert len(rows) == 2
    assert rows[0] == rows[1]
    assert rows[1][1] == ["email", "fullName"]
    assert rows[1][2] == sorted(map(str, contacts))
    async with owner_engine.connect() as conn:
        broken = await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, false), audit_verify()"),
            {"t": str(owner.tenant_id)},
        )
        assert broken.one()[1] is None  # the chain still verifies


async def _entries_by_request(owner_engine, tenant_id) -> dict[str, int]:
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT request_id, count(*) FROM audit_log "
                "WHERE tenant_id = :t AND operation = 'read' GROUP BY request_id"
            ),
            {"t": tenant_id},
        )
        return {r[0]: r[1] for r in rows}


async def _audited_owner(new_tenant, owner_url, name):
    owner = await new_tenant(name)
    sid = (await make_spaces(owner_url, owner.tenant_id, 1))[0]
    contacts = await make_contacts(owner_url, owner.tenant_id, 3)
    await make_access(owner_url, owner.tenant_id, sid, contacts)
    return owner


async def test_an_audited_read_on_the_lane_writes_one_entry_per_request(
    app, api, client, new_tenant, owner_url, owner_engine, monkeypatch
):
    """Two round trips: the read (it scopes itself), then its entry (`app_lane_audit`,
    which scopes and commits by itself): no BEGIN, set_config or COMMIT of their own."""
    owner = await _audited_owner(new_tenant, owner_url, "AuditedLane")
    await _twice(api, owner.token, CONTACTS)
    sent = raw_statements(monkeypatch)
    answered = lane(app).answered
    ids = []
    for _ in range(3):
        response = await api(owner.token).post(CONTACTS)
        assert response.status_code == 200 and "errors" not in response.json()
        ids.append(response.headers["x-request-id"])
    assert lane(app).answered == answered + 3
    assert len(sent) == 6, sent
    assert all("app_lane_known" in s for s in sent[0::2])
    assert all(s.startswith("SELECT app_lane_audit(") for s in sent[1::2])
    entries = await _entries_by_request(owner_engine, owner.tenant_id)
    assert [entries.get(i) for i in ids] == [1, 1, 1]
    # from a browser page: the entry's statement checks the origin as the read's does
    await set_tenant_web(owner_url, str(owner.tenant_id), ["https://shop.example"], None)
    answered = lane(app).answered
    browser, refused = [
        await client.post(
            "/graphql",
            json={"query": CONTACTS},
            headers={"Authorization": f"Bearer {owner.token}", "Origin": origin},
        )
        for origin in ("https://shop.example", "https://evil.example")
    ]
    assert lane(app).answered == answered + 1
    assert browser.status_code == 200 and "errors" not in browser.json()
    assert refused.status_code == 403
    entries = await _entries_by_request(owner_engine, owner.tenant_id)
    assert entries.get(browser.headers["x-request-id"]) == 1
    assert refused.headers["x-request-id"] not in entries


async def test_an_audited_read_the_lane_hands_on_is_audited_once(
    app, api, new_tenant, new_member, owner_url, owner_engine, monkeypatch
):
    """The entry's statement refuses (the role changed since the read) or fails (an error
    after the append: its transaction rolls back): nothing is written, and the whole way
    answers and audits the request once."""
    import asyncpg

    from microspace.lane import lane as lane_module

    owner = await _audited_owner(new_tenant, owner_url, "HandedOn")
    member = await new_member(owner.tenant_id, "owner")
    await _twice(api, member.token, CONTACTS)
    original = asyncpg.Connection.fetchval

    async def demoting(self, query, *args, **kwargs):
        if "app_lane_audit" in query:
            async with owner_engine.begin() as conn:
                await conn.execute(
                    text("UPDATE members SET role = 'editor' WHERE id = :m"),
                    {"m": member.member_id},
                )
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetchval", demoting)
    answered = lane(app).answered
    demoted = await api(member.token).post(CONTACTS)
    monkeypatch.setattr(asyncpg.Connection, "fetchval", original)
    assert lane(app).answered == answered
    edges = demoted.json()["data"]["spaces"]["edges"][0]["node"]["contacts"]["edges"]
    assert edges and all("***" in e["node"]["contact"]["email"] for e in edges)  # an editor's

    await _twice(api, owner.token, CONTACTS)
    failing = "SELECT (app_lane_audit($1, $2::jsonb, $3, $4, $5, $6::jsonb, {auth}))::int / 0"
    monkeypatch.setattr(lane_module, "AUDIT_SQL", failing)
    answered = lane(app).answered
    failed = await api(owner.token).post(CONTACTS)
    assert lane(app).answered == answered
    assert failed.status_code == 200 and "errors" not in failed.json()
    entries = await _entries_by_request(owner_engine, owner.tenant_id)
    assert entries[demoted.headers["x-request-id"]] == 1
    assert entries[failed.headers["x-request-id"]] == 1


async def test_an_audited_read_by_a_revoked_token_writes_no_entry(
    app, api, new_tenant, new_member, owner_url, owner_engine, monkeypatch
):
    """Revoked before the read, or between the read and its entry: no entry, and the
    whole way refuses the token."""
    import asyncpg

    owner = await _audited_owner(new_tenant, owner_url, "RevokedAudit")
    members = [await new_member(owner.tenant_id, "owner") for _ in range(2)]
    for member in members:
        await _twice(api, member.token, CONTACTS)

    async def revoke(member) -> None:
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("UPDATE api_tokens SET revoked_at = now() WHERE member_id = :m"),
                {"m": member.member_id},
            )

    await revoke(members[0])
    # the revocation changed the tenant's credentials epoch (migration 0061): the other
    # member is authenticated the whole way again, and remembered at the new epoch
    await _twice(api, members[1].token, CONTACTS)
    before = await _entries_by_request(owner_engine, owner.tenant_id)
    original = asyncpg.Connection.fetchval

    async def revoking(self, query, *args, **kwargs):
        if "app_lane_audit" in query:
            await revoke(members[1])
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetchval", revoking)
    answered = lane(app).answered
    for member in members:
        response = await api(member.token).post(CONTACTS)
        assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert lane(app).answered == answered
    assert await _entries_by_request(owner_engine, owner.tenant_id) == before


async def test_an_entry_sent_without_an_answer_is_not_handed_on(
    app, api, new_tenant, owner_url, owner_engine, monkeypatch
):
    """The connection is lost after the entry's statement committed: the lane answers 503
    itself; the whole way never answers (and audits) the request again."""
    import asyncpg

    owner = await _audited_owner(new_tenant, owner_url, "InDoubt")
    await _twice(api, owner.token, CONTACTS)
    original = asyncpg.Connection.fetchval

    async def lost(self, query, *args, **kwargs):
        value = await original(self, query, *args, **kwargs)
        if "app_lane_audit" in query:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed")
        return value

    monkeypatch.setattr(asyncpg.Connection, "fetchval", lost)
    misses = sum(lane(app).misses.values())
    response = await api(owner.token).post(CONTACTS)
    monkeypatch.setattr(asyncpg.Connection, "fetchval", original)
    assert response.status_code == 503
    assert error_codes(response.json()) == ["SERVICE_UNAVAILABLE"]
    assert sum(lane(app).misses.values()) == misses  # not handed on
    entries = await _entries_by_request(owner_engine, owner.tenant_id)
    assert entries[response.headers["x-request-id"]] == 1


async def _events(owner_engine, tenant_id):
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT topic, payload FROM domain_events WHERE tenant_id = :t ORDER BY created_at"
            ),
            {"t": tenant_id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_block_update_through_the_fast_lane_writes_and_records_its_event(
    app, api, new_tenant, owner_url, owner_engine
):
    owner = await new_tenant("Write")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=2)
    answered = lane(app).answered
    first = await api(owner.token).post(UPDATE, {"id": blocks[0], "body": {"text": "one"}})
    second = await api(owner.token).post(UPDATE, {"id": blocks[0], "body": {"text": "two"}})
    assert lane(app).answered == answered + 1
    a, b = first.json()["data"]["blockUpdate"], second.json()["data"]["blockUpdate"]
    assert a["userErrors"] == b["userErrors"] == []
    assert a["block"]["body"] == {"text": "one", "level": 2}
    assert b["block"]["body"] == {"text": "two", "level": 2}
    assert {k: v for k, v in a["block"].items() if k != "body"} == {
        k: v for k, v in b["block"].items() if k != "body"
    }
    read = await api(owner.token)("query($id: ID!) { block(id: $id) { body } }", {"id": blocks[0]})
    assert read["data"]["block"]["body"] == {"text": "two", "level": 2}
    events = await _events(owner_engine, owner.tenant_id)
    assert [t for t, _ in events] == ["block.updated", "block.updated"]
    assert events[0][1] == events[1][1]  # the same payload from both ways


async def test_block_update_refusals_are_the_whole_ways(
    app, api, new_tenant, new_member, owner_url, owner_engine
):
    owner = await new_tenant("Refusals")
    other = await new_tenant("Other")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    _, foreign = await make_space(owner_url, other.tenant_id, blocks=1)
    await _twice(api, owner.token, UPDATE, {"id": blocks[0], "body": {"text": "ok"}})
    answered = lane(app).answered
    bad = (await api(owner.token)(UPDATE, {"id": blocks[0], "body": {"text": 5}}))["data"]
    assert bad["blockUpdate"]["block"] is None
    assert [e["code"] for e in bad["blockUpdate"]["userErrors"]] == ["INVALID_BODY"]
    stranger = await api(owner.token)(UPDATE, {"id": foreign[0], "body": {"text": "x"}})
    assert error_codes(stranger) == ["NOT_FOUND"]
    garbage = await api(owner.token)(UPDATE, {"id": "not-an-id", "body": {"text": "x"}})
    assert error_codes(garbage) == ["INVALID_ID"]
    viewer = await new_member(owner.tenant_id, "viewer")
    await api(viewer.token)("{ viewer { kind } }")
    denied = await api(viewer.token)(UPDATE, {"id": blocks[0], "body": {"text": "x"}})
    assert error_codes(denied) == ["FORBIDDEN"]
    assert lane(app).answered == answered
    # nothing written by any of them: the body is the last good one, the other tenant's too
    read = await api(owner.token)("query($id: ID!) { block(id: $id) { body } }", {"id": blocks[0]})
    assert read["data"]["block"]["body"]["text"] == "ok"
    assert len(await _events(owner_engine, other.tenant_id)) == 0


async def test_block_update_by_a_demoted_or_revoked_member_writes_nothing(
    app, api, new_tenant, new_member, owner_url, owner_engine
):
    # the lane's write commits by itself: the statement must write only for the very
    # principal the lane remembers, never for what the credential could do before
    owner = await new_tenant("Demoted")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    editor = await new_member(owner.tenant_id, "editor")
    await _twice(api, editor.token, UPDATE, {"id": blocks[0], "body": {"text": "ok"}})
    before = len(await _events(owner_engine, owner.tenant_id))
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE members SET role = 'viewer' WHERE id = :m"), {"m": editor.member_id}
        )
    denied = await api(editor.token)(UPDATE, {"id": blocks[0], "body": {"text": "late"}})
    assert error_codes(denied) == ["FORBIDDEN"]
    again = await api(editor.token)(UPDATE, {"id": blocks[0], "body": {"text": "later"}})
    assert error_codes(again) == ["FORBIDDEN"]
    writer = await new_member(owner.tenant_id, "editor")
    await _twice(api, writer.token, UPDATE, {"id": blocks[0], "body": {"text": "fine"}})
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE api_tokens SET revoked_at = now() WHERE member_id = :m"),
            {"m": writer.member_id},
        )
    revoked = await api(writer.token)(UPDATE, {"id": blocks[0], "body": {"text": "gone"}})
    assert error_codes(revoked) == ["UNAUTHENTICATED"]
    read = await api(owner.token)("query($id: ID!) { block(id: $id) { body } }", {"id": blocks[0]})
    assert read["data"]["block"]["body"]["text"] == "fine"
    # the two writes of `writer` only
    assert len(await _events(owner_engine, owner.tenant_id)) == before + 2


async def test_rate_limit_refusals_come_from_the_whole_way(app, api, new_tenant, owner_url):
    owner = await new_tenant("Limited")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=1)
    buckets = app.state.fast_lane.buckets
    saved = (buckets.burst, buckets.rate)
    try:
        await _twice(api, owner.token, SPACE, {"id": space})
        # a bucket the query (cost 204) fits in once: the next one is refused (a query that
        # never fits is another refusal, COST_EXCEEDS_BURST)
        buckets.burst, buckets.rate = 300.0, 0.001
        assert (await api(owner.token).post(SPACE, {"id": space})).status_code == 200
        refused = await api(owner.token).post(SPACE, {"id": space})
        assert refused.status_code == 429
        assert error_codes(refused.json()) == ["RATE_LIMITED"]
    finally:
        buckets.burst, buckets.rate = saved


async def test_connections_kept_between_requests_never_starve_the_whole_way(
    settings, new_tenant, owner_url
):
    """While fast-lane requests overlap, a finished one leaves its connection for the next
    (microspace/lane/connections.py RawConnections); a request of the whole way still gets one at once, and
    none is kept once the lane is quiet. Two tenants share those connections: each gets
    only its own rows."""
    from dataclasses import replace

    import httpx

    from microspace.app import create_app

    app = create_app(replace(settings, pool_size=3, max_overflow=0))
    owner = await new_tenant("Spare")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=2)
    auth = {"Authorization": f"Bearer {owner.token}"}
    body = {"query": SPACE, "variables": {"id": space}}
    neighbour = await new_tenant("Neighbour")
    their_space, _ = await make_space(owner_url, neighbour.tenant_id, blocks=3)
    readers = [
        (auth, body, space),
        (
            {"Authorization": f"Bearer {neighbour.token}"},
            {"query": SPACE, "variables": {"id": their_space}},
            their_space,
        ),
    ]
    pool = app.state.microspace.engine.sync_engine.pool
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            for who, asked, _ in readers:
                assert (await c.post("/graphql", json=asked, headers=who)).status_code == 200
            stop = asyncio.Event()
            kept = 0

            async def lane_load(who: dict, asked: dict, own: str) -> None:
                nonlocal kept
                while not stop.is_set():
                    r = await c.post("/graphql", json=asked, headers=who)
                    assert r.status_code == 200 and "errors" not in r.json()
                    assert r.json()["data"]["space"]["id"] == own
                    kept = max(kept, len(lane(app).connections._idle))

            loaders = [asyncio.create_task(lane_load(*readers[i % 2])) for i in range(6)]
            await asyncio.sleep(0.3)
            answered = lane(app).answered
            for n in range(5):
                # a document the lane does not know: the whole way, on a pooled session
                query = f"query Whole{n}{uuid.uuid4().hex} {{ spaces {{ totalCount }} }}"
                r = await asyncio.wait_for(
                    c.post("/graphql", json={"query": query}, headers=auth), 5
                )
                assert r.status_code == 200 and r.json()["data"]["spaces"]["totalCount"] == 1
            stop.set()
            await asyncio.gather(*loaders)
        assert lane(app).answered > answered  # the lane kept answering meanwhile
        assert kept > 0  # connections were kept between overlapping requests
        assert lane(app).connections._idle == []  # and all went back once it was quiet
        assert pool.checkedout() == 0
        # a lane statement sets its tenant for its own transaction only: none of the lane's
        # connections reaches the pool still scoped to it
        engine = app.state.microspace.engine
        held = [await engine.connect() for _ in range(3)]
        try:
            for conn in held:
                scoped = await conn.scalar(text("SELECT current_setting('app.tenant_id', true)"))
                assert scoped in (None, "")
        finally:
            for conn in held:
                await conn.close()
    finally:
        await app.state.microspace.engine.dispose()


async def test_a_read_and_a_write_take_one_round_trip_each(
    app, api, new_tenant, owner_url, monkeypatch
):
    """One statement per request on the lane's connection: the tenant is set inside it
    (migration 0013 `app_lane_scope`, 0021 `app_block_update`), not in a round trip of
    its own; and the answer is still the tenant's own."""
    owner = await new_tenant("OneTrip")
    space, blocks = await make_space(owner_url, owner.tenant_id, blocks=2)
    block = blocks[0]
    await _twice(api, owner.token, SPACE, {"id": space})
    await api(owner.token).post(UPDATE, {"id": block, "body": {"text": "first"}})
    sent = raw_statements(monkeypatch)
    answered = lane(app).answered
    read = await api(owner.token).post(SPACE, {"id": space})
    write = await api(owner.token).post(UPDATE, {"id": block, "body": {"text": "second"}})
    assert lane(app).answered == answered + 2
    assert len(sent) == 2, sent
    assert "app_lane_known" in sent[0] and "app_block_update" in sent[1]
    assert read.json()["data"]["space"]["id"] == space
    assert write.json()["data"]["blockUpdate"]["block"]["body"]["text"] == "second"


async def test_the_credential_check_sees_only_the_scoped_tenants_tokens(app_engine, new_tenant):
    """`app_token_check` runs with the caller's rights (migration 0013): row-level
    security shows it the tokens of the tenant the statement is scoped to, no other."""
    from core.auth import hash_token

    owner = await new_tenant("Check")
    other = await new_tenant("CheckOther")
    digest = hash_token(owner.token)
    check = text("SELECT token_id, tenant_id FROM app_token_check(:h)")
    async with app_engine.begin() as conn:
        assert (await conn.execute(check, {"h": digest})).all() == []  # no tenant set
    for tenant, expected in ((other.tenant_id, 0), (owner.tenant_id, 1)):
        async with app_engine.begin() as conn:
            await conn.execute(
                text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)}
            )
            rows = (await conn.execute(check, {"h": digest})).all()
        assert len(rows) == expected
        assert all(str(row.tenant_id) == str(owner.tenant_id) for row in rows)


async def test_a_request_the_lane_hands_on_is_charged_once(app, api, new_tenant, owner_url):
    """The lane takes a request's points before its statement; when the statement finds
    nothing to answer (here an unknown block) the whole way answers and charges it: the
    lane gives its points back, so the caller pays what the whole way alone would take."""
    owner = await new_tenant("ChargedOnce")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    unknown = encode_id("Block", uuid.uuid4())
    buckets = app.state.fast_lane.buckets
    saved = (buckets.burst, buckets.rate)

    async def spent(variables: dict) -> tuple[int, list[str]]:
        response = await api(owner.token).post(UPDATE, variables)
        return int(response.headers["ratelimit-remaining"]), error_codes(response.json())

    try:
        buckets.burst, buckets.rate = 10_000.0, 0.000_001
        await _twice(api, owner.token, UPDATE, {"id": blocks[0], "body": {"text": "known"}})
        answered = lane(app).answered
        first, codes = await spent({"id": unknown, "body": {"text": "x"}})
        through_lane, _ = await spent({"id": unknown, "body": {"text": "y"}})
        assert codes == ["NOT_FOUND"]
        assert lane(app).answered == answered  # the lane handed both on
        lane(app).enabled = False
        try:
            whole_way, _ = await spent({"id": unknown, "body": {"text": "z"}})
        finally:
            lane(app).enabled = True
        assert first - through_lane == through_lane - whole_way > 0
    finally:
        buckets.burst, buckets.rate = saved


@pytest.mark.parametrize(
    ("check", "table"), [("app_lane_known", "tenants"), ("app_lane_scope", "api_tokens")]
)
async def test_a_read_runs_only_after_its_statement_has_set_the_tenant(
    app, api, new_tenant, owner_url, monkeypatch, check, table
):
    """A lane read sets its tenant inside its own statement (`app_lane_scope`, inlined
    since migration 0056; `app_lane_known` for a principal checked by its tenant's
    credentials epoch, migration 0061), so the plan must run after the scope: on the inner
    side of the top nested loop, never flattened beside it; and within the scope, the
    credential's check after the `set_config`, on the inner side of the scope's own nested
    loop. Were either to run first, row-level security would see no tenant and a list
    would come back empty (or the check would find nothing) instead of the tenant's rows."""
    import dataclasses
    import json

    import asyncpg

    owner = await new_tenant("ScopeFirst")
    await make_spaces(owner_url, owner.tenant_id, 2)
    listing = "query L { spaces(first: 5) { edges { node { id title } } } }"
    await _twice(api, owner.token, listing)
    if check == "app_lane_scope":
        # a principal remembered without an epoch (a widget's, a preview's) is checked by
        # its token
        known = lane(app).pipeline.known
        digest = hash_token(owner.token)
        remembered = known.get(digest)
        assert remembered is not None and remembered.epoch is not None
        known._by_hash[digest] = dataclasses.replace(remembered, epoch=None, valid_until=None)
    plans: list[dict] = []
    original = asyncpg.Connection.fetch

    async def explaining(self, query, *args, **kwargs):
        rows = await original(self, query, *args, **kwargs)
        if check in query:
            raw = await self.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
            # the app's connections may decode JSON themselves
            plans.append((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])
        return rows

    monkeypatch.setattr(asyncpg.Connection, "fetch", explaining)
    answered = lane(app).answered
    response = await api(owner.token).post(listing)
    assert lane(app).answered == answered + 1, (lane(app).misses, plans)
    assert len(response.json()["data"]["spaces"]["edges"]) == 2
    (plan,) = plans
    assert plan["Node Type"] == "Nested Loop"
    outer, inner = plan["Plans"]
    assert outer["Parent Relationship"] == "Outer"
    assert inner["Parent Relationship"] == "Inner"
    assert f'"{table}"' not in json.dumps(inner) and "set_config" not in json.dumps(inner)
    # the scope: the tenant set by a node that reads no table, the check under it
    assert outer["Node Type"] == "Nested Loop"
    tenant_set, match = outer["Plans"]
    assert tenant_set["Parent Relationship"] == "Outer" and "Relation Name" not in json.dumps(
        tenant_set
    )
    assert match["Parent Relationship"] == "Inner"
    assert f'"{table}"' in json.dumps(match) and "set_config" in json.dumps(match)


async def test_a_lane_write_without_a_matching_token_writes_nothing(
    app_engine, new_tenant, owner_url
):
    """The lane's call of `app_block_update` (migration 0021) names a principal; its token
    hash is NULL when the request's origin is refused (`_credential`). Such a call writes
    nothing, even in a transaction already scoped to the tenant: only a call without a
    principal (the resolver's, in its scoped transaction) skips the check."""
    import json

    from core.ids import decode_id
    from store.blocks import update_values

    owner = await new_tenant("NoToken")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    values = update_values(decode_id(blocks[0], "Block"), {"text": "sneaked"}, "member")
    assert values is not None
    who = json.dumps([None, "member", str(owner.member_id), None, 0, ["owner"]])
    call = text(
        "SELECT r.same, (r.block).id AS written FROM app_block_update(:t, :id, :kinds, "
        "CAST(:bodies AS text[]), CAST(:event AS jsonb), CAST(:who AS jsonb), NULL) AS r"
    )
    params = dict(zip(("id", "kinds", "bodies", "event"), values, strict=True))
    async with app_engine.begin() as conn:
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(owner.tenant_id)}
        )
        row = (await conn.execute(call, {"t": owner.tenant_id, "who": who, **params})).one()
    assert (row.same, row.written) == (False, None)
    async with app_engine.begin() as conn:
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(owner.tenant_id)}
        )
        body = await conn.scalar(
            text("SELECT body->>'text' FROM blocks WHERE id = :id"), {"id": values[0]}
        )
    assert body != "sneaked"


async def test_a_read_sent_again_is_prepared_once_per_principal(
    app, api, new_tenant, owner_url, owner_engine
):
    """The lane keeps what its checks and plan made of a read (`FastLane._prepared`), by
    tenant and (credential, request text), for the principal object it was made for: a
    principal authenticated again (a revocation, a new role or policy version makes a new
    one) prepares again, and a dropped plan cache drops these too. A revoked token is still
    refused by the statement itself on the next request."""
    from core.auth import hash_token

    owner = await new_tenant("Prepared")
    space, _ = await make_space(owner_url, owner.tenant_id, blocks=2)
    kept = lane(app)._prepared
    assert kept in app.state.compiled_reads.caches  # its hits and bounds in /metrics
    first, second = await _twice(api, owner.token, SPACE, {"id": space})
    hits = kept.hits
    third = await api(owner.token).post(SPACE, {"id": space})
    assert kept.hits == hits + 1
    assert first.json() == second.json() == third.json()
    # another text (other variables) is prepared on its own
    other, _ = await make_space(owner_url, owner.tenant_id, blocks=1)
    await _twice(api, owner.token, SPACE, {"id": other})
    assert kept.has(owner.tenant_id, (hash_token(owner.token), third.request.content, False))
    # a principal authenticated again is another object: the entry is not served to it
    lane(app).pipeline.known.forget(hash_token(owner.token))
    hits = kept.hits
    again = await api(owner.token).post(SPACE, {"id": space})  # the whole way, learns it
    answered = lane(app).answered
    assert (await api(owner.token).post(SPACE, {"id": space})).json() == again.json()
    assert lane(app).answered == answered + 1
    assert kept.hits == hits + 1  # found, but for another principal: prepared again
    assert (await api(owner.token).post(SPACE, {"id": space})).json() == again.json()
    assert kept.hits == hits + 2
    # revoked: the next request is refused, not answered from what was kept
    await _revoke(owner_engine, owner.member_id)
    answered = lane(app).answered
    response = await api(owner.token).post(SPACE, {"id": space})
    assert kept.hits == hits + 3 and lane(app).answered == answered
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    # dropped with the plans
    app.state.compiled_reads.forget()
    assert kept.entries == 0


async def test_a_write_sent_again_is_prepared_once_per_principal(
    app, api, new_tenant, new_member, owner_url, owner_engine
):
    """The lane keeps what its checks and plan made of a write's document (`FastLane._writes`),
    by tenant and (credential, document text, operation name), for the principal object it
    was made for, as reads are kept: a new body every request is written from it. A member
    demoted since is another principal: planned again, and refused as the whole way refuses
    (the statement's check alone would let the new role's principal write)."""
    from core.auth import hash_token

    owner = await new_tenant("PreparedWrite")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    kept = lane(app)._writes
    assert kept in app.state.compiled_reads.caches  # its hits and bounds in /metrics
    editor = await new_member(owner.tenant_id, "editor")
    await _twice(api, editor.token, UPDATE, {"id": blocks[0], "body": {"text": "one"}})
    assert kept.has(owner.tenant_id, (hash_token(editor.token), UPDATE, None))
    hits, answered = kept.hits, lane(app).answered
    for n in ("two", "three"):
        done = await api(editor.token)(UPDATE, {"id": blocks[0], "body": {"text": n}})
        assert done["data"]["blockUpdate"]["block"]["body"]["text"] == n
    assert (kept.hits, lane(app).answered) == (hits + 2, answered + 2)
    # another credential of the tenant is prepared on its own
    await _twice(api, owner.token, UPDATE, {"id": blocks[0], "body": {"text": "four"}})
    assert kept.has(owner.tenant_id, (hash_token(owner.token), UPDATE, None))
    # demoted: the first request goes the whole way (the statement refuses the old
    # principal); the next finds the entry made for the editor, and must not write from it
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE members SET role = 'viewer' WHERE id = :m"), {"m": editor.member_id}
        )
    for n in ("late", "later"):
        denied = await api(editor.token)(UPDATE, {"id": blocks[0], "body": {"text": n}})
        assert error_codes(denied) == ["FORBIDDEN"]
    read = await api(owner.token)("query($id: ID!) { block(id: $id) { body } }", {"id": blocks[0]})
    assert read["data"]["block"]["body"]["text"] == "four"
    # dropped with the plans
    app.state.compiled_reads.forget()
    assert kept.entries == 0


async def test_unstorable_variables_go_the_whole_way(app, api, new_tenant, owner_url):
    """The lane looks at a POST's variable strings only when its body holds a `\\u` escape
    (U+0000 and lone surrogates can be written in no other way): such variables still go
    the whole way, which refuses them, after the same document was answered by the lane
    (a lone surrogate's escape already fails the lane's JSON parser)."""
    owner = await new_tenant("Unstorable")
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    await _twice(api, owner.token, UPDATE, {"id": blocks[0], "body": {"text": "fine"}})
    client = api(owner.token).client
    headers = {"Authorization": f"Bearer {owner.token}", "Content-Type": "application/json"}
    for bad in ("a\\u0000b", "a\\ud800b", "a\\uD800b"):  # JSON escapes, as sent
        answered = lane(app).answered
        variables = f'{{"id": "{blocks[0]}", "body": {{"text": "{bad}"}}}}'
        content = orjson.dumps({"query": UPDATE})[:-1] + f', "variables": {variables}}}'.encode()
        response = await client.post("/graphql", content=content, headers=headers)
        assert lane(app).answered == answered
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def _revoke(owner_engine, member_id) -> None:  # type: ignore[no-untyped-def]
    """Revoke every token of a member, as the owner."""
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE api_tokens SET revoked_at = now() WHERE member_id = :m"),
            {"m": member_id},
        )
