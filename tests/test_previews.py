"""Preview links through HTTP (docs/content.md, Previews).

Invariants:
- a preview link shows one space's draft (never published, or changed since), read-only, to
  a caller without an account, by the widget's trusted documents; the fast lane answers it
  like a widget key, never from a shared cache;
- nothing else is reachable: another space of the tenant, a block of it and a random ID
  answer the same NOT_FOUND; contact data and every write are FORBIDDEN; merge fields of a
  personalised space show their fallbacks, never the contact's values;
- an expired, a revoked and an altered link are refused, each with its own code, on every
  read and on the link's page;
- another tenant's preview link ID answers exactly as a random one; a preview reaches no
  other tenant's space;
- making and revoking a link is audited (its ID, nothing else); only members whose role
  may make one do; past or far expiries and archived spaces are refused with user errors.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from core.db import owner_db
from core.ids import encode_id
from microspace.web.widget_documents import HASHES
from tests.conftest import error_codes
from tests.factories import make_contacts, make_spaces, mint_key
from tests.widgets import PersistedApi

pytestmark = pytest.mark.usefixtures("read_path")

CREATE = """mutation($input: PreviewLinkCreateInput!) { previewLinkCreate(input: $input) {
  previewLink { id spaceId status expiresAt note } secret url userErrors { code field } } }"""
REVOKE = """mutation($id: ID!) { previewLinkRevoke(id: $id) {
  previewLink { id status revokedAt } userErrors { code } } }"""
LIST = """query($space: ID) { previewLinks(spaceId: $space) { totalCount
  edges { node { id spaceId status note } } } }"""
GET = "query($id: ID!) { previewLink(id: $id) { id status } }"
SPACE = (
    "query($id: ID!) { space(id: $id) { id title status blocks { edges { node { id body } } } } }"
)
BLOCK = "query($id: ID!) { block(id: $id) { id } }"
CONTACTS = "{ contacts(first: 5) { edges { node { id email } } } }"
SPACE_CONTACTS = "query($id: ID!) { space(id: $id) { id contacts { edges { node { id } } } } }"
UPDATE = 'mutation($id: ID!) { spaceUpdate(input: {id: $id, title: "x"}) { space { id } } }'
EDIT = (
    'mutation($id: ID!) { spaceUpdate(input: {id: $id, title: "Edited draft"}) { space { id } } }'
)


def _strip(result: dict) -> dict:
    return {
        "data": result.get("data"),
        "errors": [{k: v for k, v in e.items() if k != "locations"} for e in result["errors"]],
    }


async def _link(owner, space_gid: str, **input) -> dict:
    made = await owner(CREATE, {"input": {"spaceId": space_gid, **input}})
    payload = made["data"]["previewLinkCreate"]
    assert payload["userErrors"] == [], made
    return payload


async def _setup(api, new_tenant, owner_url, name="P"):
    t = await new_tenant(name)
    draft, other = await make_spaces(owner_url, t.tenant_id, 2, blocks_each=2)
    gid = encode_id("Space", draft)
    link = await _link(api(t.token), gid, note="for Ada")
    return t, gid, encode_id("Space", other), link


def _widget_space(gid: str) -> dict:
    return {
        "operationName": "WidgetSpace",
        "variables": {"id": gid},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": HASHES["WidgetSpace"]}},
    }


async def test_a_preview_shows_the_draft(app, api, client, new_tenant, owner_url):
    # given a space never published, and a preview link of it
    t, gid, _other, link = await _setup(api, new_tenant, owner_url)
    assert link["url"].endswith(f"/previews/{link['secret']}")
    assert link["previewLink"]["spaceId"] == gid and link["previewLink"]["status"] == "ACTIVE"
    headers = {"Authorization": f"Bearer {link['secret']}"}

    # when someone without an account reads it as the widget does
    shown = (await client.post("/graphql", json=_widget_space(gid), headers=headers)).json()

    # then they see the draft, which a widget key bound to the space does not
    assert "errors" not in shown, shown
    assert shown["data"]["space"]["id"] == gid
    assert len(shown["data"]["space"]["blocks"]["edges"]) == 2
    key = await mint_key(api(t.token), "widget", [], spaceIds=[gid], allowedOrigins=[])
    widget = await client.post(
        "/graphql", json=_widget_space(gid), headers={"Authorization": f"Bearer {key}"}
    )
    assert error_codes(widget.json()) == ["NOT_FOUND"]

    # and an edit of the draft shows at once, answered by the fast lane, never cached
    await api(t.token)(EDIT, {"id": gid})
    answered = app.state.fast_lane.answered
    again = await client.post("/graphql", json=_widget_space(gid), headers=headers)
    assert again.json()["data"]["space"]["title"] == "Edited draft"
    if app.state.compiled_reads.enabled:
        assert app.state.fast_lane.answered == answered + 1
    params = {
        k: v if isinstance(v, str) else __import__("json").dumps(v)
        for k, v in _widget_space(gid).items()
    }
    by_get = await client.get("/graphql", params=params, headers=headers)
    assert by_get.json()["data"]["space"]["title"] == "Edited draft"
    assert by_get.headers["cache-control"] == "private, no-store"


async def test_a_preview_reaches_nothing_else(api, client, new_tenant, owner_url):
    t, gid, other, link = await _setup(api, new_tenant, owner_url)
    contact = (await make_contacts(owner_url, t.tenant_id, 1))[0]
    preview = PersistedApi(client, link["secret"], api(t.token))
    # another space of the tenant, and its block, answer like random IDs
    on_other = await preview(SPACE, {"id": other})
    on_random = await preview(SPACE, {"id": encode_id("Space", uuid.uuid4())})
    assert error_codes(on_other) == ["NOT_FOUND"]
    assert _strip(on_other) == _strip(on_random)
    blocks = await api(t.token)(SPACE, {"id": other})
    other_block = blocks["data"]["space"]["blocks"]["edges"][0]["node"]["id"]
    assert error_codes(await preview(BLOCK, {"id": other_block})) == ["NOT_FOUND"]
    listed = await preview("{ spaces { edges { node { id } } } }")
    assert [e["node"]["id"] for e in listed["data"]["spaces"]["edges"]] == [gid]
    # no contact data, no writes
    assert error_codes(await preview(CONTACTS)) == ["FORBIDDEN"]
    assert error_codes(await preview(SPACE_CONTACTS, {"id": gid})) == ["FORBIDDEN"]
    contact_node = await preview(
        "query($id: ID!) { node(id: $id) { id } }", {"id": encode_id("Contact", contact)}
    )
    assert error_codes(contact_node) in (["NOT_FOUND"], ["FORBIDDEN"])
    assert error_codes(await preview(UPDATE, {"id": gid})) == ["FORBIDDEN"]
    assert error_codes(await preview(CREATE, {"input": {"spaceId": gid}})) == ["FORBIDDEN"]
    assert (await api(t.token)(SPACE, {"id": gid}))["data"]["space"]["title"] != "x"
    # and an untrusted document is refused, as for a widget
    raw = await client.post(
        "/graphql",
        json={"query": "query($id: ID!) { space(id: $id) { id } }", "variables": {"id": gid}},
        headers={"Authorization": f"Bearer {link['secret']}"},
    )
    assert error_codes(raw.json()) == ["PERSISTED_QUERY_REQUIRED"]


async def _refused(client, secret: str, gid: str) -> tuple[list[str], int, str]:
    headers = {"Authorization": f"Bearer {secret}"}
    read = await client.post("/graphql", json=_widget_space(gid), headers=headers)
    page = await client.get(f"/previews/{secret}")
    return (
        error_codes(read.json()),
        page.status_code,
        page.json()["errors"][0]["extensions"]["code"],
    )


async def test_expired_revoked_and_altered_links_are_refused_each_with_its_code(
    api, client, new_tenant, owner_url
):
    t, gid, _other, link = await _setup(api, new_tenant, owner_url)
    secret = link["secret"]
    page = await client.get(f"/previews/{secret}")
    assert page.status_code == 200 and gid in page.text and "/widget.js" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"

    # altered: one character of the signature, or of the signed part
    for altered in (
        secret[:-2] + ("A" if secret[-2] != "A" else "B") + secret[-1],
        secret[:8] + ("x" if secret[8] != "x" else "y") + secret[9:],
        "msd_" + "A" * 40,
    ):
        assert await _refused(client, altered, gid) == (
            ["PREVIEW_LINK_INVALID"],
            404,
            "PREVIEW_LINK_INVALID",
        )

    # expired (the database's expiry, as the signed one passes)
    expiring = (await _link(api(t.token), gid))["secret"]
    async with owner_db(_engine(owner_url), t.tenant_id) as db:
        await db.execute(
            text(
                "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'preview' AND id = :id"
            ),
            {"id": uuid.UUID(_raw_id(expiring))},
        )
    assert await _refused(client, expiring, gid) == (
        ["PREVIEW_LINK_EXPIRED"],
        410,
        "PREVIEW_LINK_EXPIRED",
    )

    # revoked
    revoked = await api(t.token)(REVOKE, {"id": link["previewLink"]["id"]})
    assert revoked["data"]["previewLinkRevoke"]["previewLink"]["status"] == "REVOKED"
    assert await _refused(client, secret, gid) == (
        ["PREVIEW_LINK_REVOKED"],
        410,
        "PREVIEW_LINK_REVOKED",
    )
    listed = await api(t.token)(LIST, {"space": gid})
    statuses = sorted(e["node"]["status"] for e in listed["data"]["previewLinks"]["edges"])
    assert statuses == ["EXPIRED", "REVOKED"]


def _engine(owner_url):
    from tests.factories import _owner

    return _owner(owner_url)


def _raw_id(secret: str) -> str:
    import json

    from core import signed

    payload = json.loads(signed.unb64(secret[4:].split(".")[0]))
    return str(uuid.UUID(bytes=signed.unb64(payload["p"])))


async def test_another_tenants_link_is_a_random_one(api, client, new_tenant, owner_url):
    a_t, a_gid, _a_other, a_link = await _setup(api, new_tenant, owner_url, "A")
    b_t, b_gid, _b_other, b_link = await _setup(api, new_tenant, owner_url, "B")
    random_id = encode_id("PreviewLink", uuid.uuid4())
    for query in (GET, REVOKE):
        on_foreign = await api(a_t.token)(query, {"id": b_link["previewLink"]["id"]})
        on_random = await api(a_t.token)(query, {"id": random_id})
        assert error_codes(on_foreign) == ["NOT_FOUND"]
        assert _strip(on_foreign) == _strip(on_random)
    # a key's ID is no preview link either
    listed = await api(a_t.token)(LIST, {"space": None})
    assert [e["node"]["id"] for e in listed["data"]["previewLinks"]["edges"]] == [
        a_link["previewLink"]["id"]
    ]
    # B's link still works, and reaches none of A's spaces
    preview = PersistedApi(client, b_link["secret"], api(b_t.token))
    assert (await preview(SPACE, {"id": b_gid}))["data"]["space"]["id"] == b_gid
    on_a = await preview(SPACE, {"id": a_gid})
    on_random = await preview(SPACE, {"id": encode_id("Space", uuid.uuid4())})
    assert error_codes(on_a) == ["NOT_FOUND"] and _strip(on_a) == _strip(on_random)


async def test_making_and_revoking_is_audited_and_by_role(api, new_tenant, new_member, owner_url):
    t, gid, _other, link = await _setup(api, new_tenant, owner_url)
    link_id = link["previewLink"]["id"]
    await api(t.token)(REVOKE, {"id": link_id})
    await api(t.token)(REVOKE, {"id": link_id})  # once revoked, nothing more to audit
    async with owner_db(_engine(owner_url), t.tenant_id) as db:
        audited = (
            await db.execute(
                text(
                    "SELECT operation, fields FROM audit_log WHERE tenant_id = :t "
                    "AND operation LIKE 'preview_link%' ORDER BY seq"
                ),
                {"t": t.tenant_id},
            )
        ).all()
    assert [(op, fields) for op, fields in audited] == [
        ("preview_link_create", [link_id]),
        ("preview_link_revoke", [link_id]),
    ]
    viewer = await new_member(t.tenant_id, "viewer")
    assert error_codes(await api(viewer.token)(CREATE, {"input": {"spaceId": gid}})) == [
        "FORBIDDEN"
    ]
    assert (await api(viewer.token)(LIST, {"space": gid}))["data"]["previewLinks"][
        "totalCount"
    ] == 1
    editor = await new_member(t.tenant_id, "editor")
    assert (await _link(api(editor.token), gid))["secret"].startswith("msd_")


async def test_bad_input_is_refused_with_user_errors(api, new_tenant, owner_url):
    t = await new_tenant("Bad")
    draft, archived = [
        (await make_spaces(owner_url, t.tenant_id, 1, status=s))[0] for s in ("draft", "archived")
    ]
    owner = api(t.token)
    now = datetime.now(UTC)
    cases = [
        (
            {
                "spaceId": encode_id("Space", draft),
                "expiresAt": (now - timedelta(minutes=1)).isoformat(),
            },
            ("INVALID_EXPIRY", ["expiresAt"]),
        ),
        (
            {
                "spaceId": encode_id("Space", draft),
                "expiresAt": (now + timedelta(days=31)).isoformat(),
            },
            ("INVALID_EXPIRY", ["expiresAt"]),
        ),
        ({"spaceId": encode_id("Space", draft), "note": "x" * 201}, ("TOO_LONG", ["note"])),
        ({"spaceId": encode_id("Space", archived)}, ("SPACE_ARCHIVED", ["spaceId"])),
    ]
    for input, (code, field) in cases:
        made = (await owner(CREATE, {"input": input}))["data"]["previewLinkCreate"]
        assert made["secret"] is None and made["previewLink"] is None
        assert [(e["code"], e["field"]) for e in made["userErrors"]] == [(code, field)]
    assert (await owner(LIST, {"space": None}))["data"]["previewLinks"]["totalCount"] == 0
    unknown = await owner(CREATE, {"input": {"spaceId": encode_id("Space", uuid.uuid4())}})
    assert error_codes(unknown) == ["NOT_FOUND"]


async def test_a_preview_of_a_personalised_space_shows_the_fallbacks(
    api, client, new_tenant, new_member, owner_url
):
    # a draft personalised for Jane, its heading holding merge fields (tests/test_merge_fields.py)
    from tests.test_merge_fields import _texts, _world

    t, space, _jane = await _world(new_tenant, new_member, owner_url, status="draft")
    gid = encode_id("Space", space)
    secret = (await _link(api(t.token), gid))["secret"]
    query = """query($id: ID!) { space(id: $id) { blocks { edges { node {
      body content { ... on HeadingBody { text } } } } } } }"""
    # the member sees Jane's values; the preview, without a reader, only the fallbacks
    assert _texts(await api(t.token)(query, {"id": gid})) == [
        "Hello Jane from Initech, Sam Advisor"
    ]
    shown = await PersistedApi(client, secret, api(t.token))(query, {"id": gid})
    assert _texts(shown) == ["Hello there from your company, "]
    assert not any(s in str(shown) for s in ("Jane", "Initech", "Sam"))
