"""Drafts and published revisions (docs/content.md, "States and revisions").

Invariants:
- members edit the draft; widgets and visitors read the latest published revision only, on
  the compiled path and on the resolver path alike; an edit shows to them once published;
- `Space.state` is exact: reverting an edit shows PUBLISHED again;
- unpublish withdraws the revision and keeps it; archived spaces are hidden and cannot be
  published (INVALID_STATE); unarchiving brings one back as a draft, shown to nobody until
  published again, and refuses a space that is not archived (INVALID_STATE);
- revisions are numbered per space, immutable to the application role; the history lists
  them; the diff says added, removed, changed, moved; restore copies one into the draft and
  refuses a revision of another space;
- publish, unpublish, restore, archive and unarchive each write an audit entry and a domain
  event;
- `published.spaces` / `published.blocks` have exactly the columns of `spaces` / `blocks`;
- the history (`SpaceRevision`) is read as the policy says for every role and partner scope
  (FORBIDDEN where it does not allow it), and holds no personal-data field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import print_schema
from sqlalchemy import text

from core.db import owner_db
from core.ids import decode_id, encode_id
from microspace.web.widget_documents import DOCUMENTS, HASHES
from models import Role
from policies.authz import load_enforcer
from schema.build import build_schema
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_space, make_spaces, mint_key
from tests.widgets import PersistedApi, by_hash, open_visitor

SPACE = """query($id: ID!) { space(id: $id) { title publishedAt
  blocks { edges { node { id position body } } } } }"""
STATE = "query($id: ID!) { space(id: $id) { state title } }"
UPDATE_TITLE = (
    "mutation($id: ID!, $t: String!) { spaceUpdate(input: {id: $id, title: $t}) "
    "{ space { title state } userErrors { code } } }"
)
UPDATE_BLOCK = (
    "mutation($id: ID!, $b: JSON!) { blockUpdate(input: {id: $id, body: $b}) "
    "{ block { id } userErrors { code } } }"
)
PUBLISH = (
    "mutation($id: ID!, $n: String) { spacePublish(id: $id, note: $n) { space { state status "
    "published { number note authorKind authorId } } userErrors { code field message } } }"
)
UNPUBLISH = (
    "mutation($id: ID!) { spaceUnpublish(id: $id) { space { state status published { number } } "
    "userErrors { code message } } }"
)
ARCHIVE = "mutation($id: ID!) { spaceArchive(id: $id) { space { state } userErrors { code } } }"
RESTORE = (
    "mutation($id: ID!, $r: ID!) { spaceRestore(id: $id, revisionId: $r) { space { state title "
    "blocks { edges { node { id body } } } } userErrors { code field message } } }"
)
HISTORY = """query($id: ID!) { space(id: $id) {
  revisions { totalCount edges { node { id number note authorKind createdAt
    blocks { edges { node { id position body } } } } } }
  revision(number: 1) { number title } } }"""
DIFF = """query($s: ID!, $f: Int!, $t: Int) { spaceRevisionDiff(spaceId: $s, from: $f, to: $t) {
  fromNumber toNumber fields blocks { blockId change fields fromPosition toPosition } } }"""


SHOP = "https://shop.example"


class Widget(PersistedApi):
    """A widget on a shop's page. The widget's own document (`WidgetSpace`, compiled and
    answered by the fast lane once it knows the key) goes by hash over GET with the page's
    Origin, as widget.js sends it; any other document is registered and posted by hash."""

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        if query != DOCUMENTS["WidgetSpace"]:
            return await super().__call__(query, variables)
        params = {
            "key": self.token,
            "operationName": "WidgetSpace",
            "variables": json.dumps(variables),
            "extensions": json.dumps(by_hash(HASHES["WidgetSpace"])["extensions"]),
        }
        response = await self.client.get("/graphql", params=params, headers={"Origin": SHOP})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def _widget(api, client, owner, space: str) -> Widget:
    key = await mint_key(owner, "widget", [], spaceIds=[space], allowedOrigins=[SHOP])
    return Widget(client, key, owner)


@pytest.mark.parametrize("compiled", [True, False])
async def test_widget_sees_a_draft_edit_only_once_published(
    app, api, client, new_tenant, owner_url, compiled
):
    # given a published space with one block, and a widget key bound to it
    t = await new_tenant("A")
    owner = api(t.token)
    space, (block,) = await make_space(owner_url, t.tenant_id, blocks=1)
    assert (await owner(PUBLISH, {"id": space}))["data"]["spacePublish"]["userErrors"] == []
    widget = await _widget(api, client, owner, space)
    # the resolver path: a field the compiler does not plan sends the query there
    query = DOCUMENTS["WidgetSpace"] if compiled else SPACE.replace("publishedAt", "state")
    await widget(query, {"id": space})  # the key becomes known to the fast lane
    before = (await widget(query, {"id": space}))["data"]["space"]
    answered = app.state.fast_lane.answered

    # when a member edits the draft
    edited = {"text": "Welcome (edited)", "level": 2}
    assert (await owner(UPDATE_BLOCK, {"id": block, "b": edited}))["data"]["blockUpdate"][
        "userErrors"
    ] == []
    await owner(UPDATE_TITLE, {"id": space, "t": "Edited title"})

    # then the widget still reads the published revision, the member sees the change
    after = (await widget(query, {"id": space}))["data"]["space"]
    assert after == before
    assert after["blocks"]["edges"][0]["node"]["body"]["text"] == "Block 0"
    assert (await owner(STATE, {"id": space}))["data"]["space"] == {
        "state": "CHANGED",
        "title": "Edited title",
    }

    # and once published, the widget reads it
    await owner(PUBLISH, {"id": space})
    shown = (await widget(query, {"id": space}))["data"]["space"]
    assert shown["title"] == "Edited title"
    assert shown["blocks"]["edges"][0]["node"]["body"]["text"] == "Welcome (edited)"
    # the compiled reads were the fast lane's (it names the published views itself)
    assert app.state.fast_lane.answered - answered == (2 if compiled else 0), dict(
        app.state.fast_lane.misses
    )


async def test_state_is_exact_and_reverting_an_edit_is_published_again(api, new_tenant, owner_url):
    t = await new_tenant("A")
    owner = api(t.token)
    space, (block,) = await make_space(owner_url, t.tenant_id, blocks=1)
    assert (await owner(STATE, {"id": space}))["data"]["space"]["state"] == "NEVER_PUBLISHED"
    published = await owner(PUBLISH, {"id": space, "n": "first"})
    assert published["data"]["spacePublish"]["space"]["state"] == "PUBLISHED"
    assert published["data"]["spacePublish"]["space"]["published"]["number"] == 1
    assert published["data"]["spacePublish"]["space"]["published"]["note"] == "first"
    assert published["data"]["spacePublish"]["space"]["published"]["authorKind"] == "member"

    await owner(UPDATE_BLOCK, {"id": block, "b": {"text": "Other", "level": 2}})
    assert (await owner(STATE, {"id": space}))["data"]["space"]["state"] == "CHANGED"
    # back to what was published: nothing to publish
    await owner(UPDATE_BLOCK, {"id": block, "b": {"text": "Block 0", "level": 2}})
    assert (await owner(STATE, {"id": space}))["data"]["space"]["state"] == "PUBLISHED"
    title = (await owner(STATE, {"id": space}))["data"]["space"]["title"]
    await owner(UPDATE_TITLE, {"id": space, "t": "Another"})
    assert (await owner(STATE, {"id": space}))["data"]["space"]["state"] == "CHANGED"
    await owner(UPDATE_TITLE, {"id": space, "t": title})
    assert (await owner(STATE, {"id": space}))["data"]["space"]["state"] == "PUBLISHED"


async def test_unpublish_keeps_the_revision_and_hides_the_space(api, client, new_tenant, owner_url):
    t = await new_tenant("A")
    owner = api(t.token)
    space, _ = await make_space(owner_url, t.tenant_id, blocks=1)
    await owner(PUBLISH, {"id": space})
    widget = await _widget(api, client, owner, space)
    assert (await widget(STATE, {"id": space}))["data"]["space"] is not None

    withdrawn = (await owner(UNPUBLISH, {"id": space}))["data"]["spaceUnpublish"]
    assert withdrawn["space"] == {"state": "UNPUBLISHED", "status": "DRAFT", "published": None}
    assert error_codes(await widget(STATE, {"id": space})) == ["NOT_FOUND"]
    history = (await owner(HISTORY, {"id": space}))["data"]["space"]
    assert history["revisions"]["totalCount"] == 1
    # unpublishing what is not published is refused, clearly
    again = (await owner(UNPUBLISH, {"id": space}))["data"]["spaceUnpublish"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]


async def test_an_archived_space_is_hidden_and_cannot_be_published(
    api, client, new_tenant, owner_url
):
    t = await new_tenant("A")
    owner = api(t.token)
    space, _ = await make_space(owner_url, t.tenant_id, blocks=1)
    await owner(PUBLISH, {"id": space})
    widget = await _widget(api, client, owner, space)
    assert (await owner(ARCHIVE, {"id": space}))["data"]["spaceArchive"]["space"] == {
        "state": "ARCHIVED"
    }
    assert error_codes(await widget(STATE, {"id": space})) == ["NOT_FOUND"]
    refused = (await owner(PUBLISH, {"id": space}))["data"]["spacePublish"]
    assert refused["space"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_STATE", ["id"])]
    assert "archived" in refused["userErrors"][0]["message"]
    history = (await owner(HISTORY, {"id": space}))["data"]["space"]
    assert history["revisions"]["totalCount"] == 1  # nothing was written


UNARCHIVE = (
    "mutation($id: ID!) { spaceUnarchive(id: $id) { space { state status published { number } } "
    "userErrors { code field message } } }"
)


async def test_an_archived_space_comes_back_as_a_draft(
    api, client, new_tenant, new_member, owner_url, owner_engine
):
    # given a published, then archived space that a widget may read
    t = await new_tenant("A")
    owner = api(t.token)
    space, _ = await make_space(owner_url, t.tenant_id, blocks=1)
    await owner(PUBLISH, {"id": space})
    widget = await _widget(api, client, owner, space)
    await owner(ARCHIVE, {"id": space})
    # a space that is not archived cannot be unarchived: a clear error, nothing written
    other, _ = await make_space(owner_url, t.tenant_id, blocks=0)
    refused = (await owner(UNARCHIVE, {"id": other}))["data"]["spaceUnarchive"]
    assert refused["space"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_STATE", ["id"])]
    assert "archived" in refused["userErrors"][0]["message"]
    # a viewer may not unarchive (Space publish, like archiving)
    viewer = await new_member(t.tenant_id, "viewer")
    assert error_codes(await api(viewer.token)(UNARCHIVE, {"id": space})) == ["FORBIDDEN"]

    # when an editor unarchives it
    editor = await new_member(t.tenant_id, "editor")
    back = (await api(editor.token)(UNARCHIVE, {"id": space}))["data"]["spaceUnarchive"]

    # then it is a draft again, its history kept, shown to nobody until published
    assert back == {
        "space": {"state": "UNPUBLISHED", "status": "DRAFT", "published": None},
        "userErrors": [],
    }
    assert error_codes(await widget(STATE, {"id": space})) == ["NOT_FOUND"]
    again = (await owner(UNARCHIVE, {"id": space}))["data"]["spaceUnarchive"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]
    published = (await owner(PUBLISH, {"id": space}))["data"]["spacePublish"]
    assert published["userErrors"] == []
    assert published["space"]["state"] == "PUBLISHED"
    assert published["space"]["published"]["number"] == 2
    assert (await widget(STATE, {"id": space}))["data"]["space"]["state"] == "PUBLISHED"
    # archiving and unarchiving are audited and write their events, the refusals nothing
    async with owner_db(owner_engine, t.tenant_id) as db:
        events = list(
            await db.scalars(
                text(
                    "SELECT topic FROM domain_events WHERE tenant_id = :t ORDER BY created_at, id"
                ),
                {"t": t.tenant_id},
            )
        )
        audited = list(
            await db.scalars(
                text("SELECT operation FROM audit_log WHERE tenant_id = :t ORDER BY seq"),
                {"t": t.tenant_id},
            )
        )
    lifecycle = ["space.published", "space.archived", "space.unarchived", "space.published"]
    assert [e for e in events if e.startswith("space.")] == lifecycle
    assert [a for a in audited if a.startswith("space_")] == [
        "space_publish",
        "space_archive",
        "space_unarchive",
        "space_publish",
    ]


async def test_a_never_published_space_unarchives_as_never_published(api, new_tenant, owner_url):
    t = await new_tenant("A")
    owner = api(t.token)
    space, _ = await make_space(owner_url, t.tenant_id, blocks=1)
    await owner(ARCHIVE, {"id": space})
    back = (await owner(UNARCHIVE, {"id": space}))["data"]["spaceUnarchive"]
    assert back["space"] == {"state": "NEVER_PUBLISHED", "status": "DRAFT", "published": None}


async def test_history_diff_and_restore(api, new_tenant, owner_url):
    t = await new_tenant("A")
    owner = api(t.token)
    space, blocks = await make_space(owner_url, t.tenant_id, blocks=3)
    await owner(PUBLISH, {"id": space, "n": "one"})
    # revision 2: block 0 changed, block 1 removed, block 2 moved up, a block added
    await owner(UPDATE_BLOCK, {"id": blocks[0], "b": {"text": "Changed", "level": 2}})
    removed = await owner(
        "mutation($id: ID!) { blockRemove(id: $id) { userErrors { code } } }", {"id": blocks[1]}
    )
    assert removed["data"]["blockRemove"]["userErrors"] == []
    added = await owner(
        "mutation($s: ID!) { blockAdd(input: {spaceId: $s, kind: HEADING, "
        'body: {text: "New", level: 2}}) { block { id } userErrors { code } } }',
        {"s": space},
    )
    new_block = added["data"]["blockAdd"]["block"]["id"]
    await owner(PUBLISH, {"id": space, "n": "two"})

    history = (await owner(HISTORY, {"id": space}))["data"]["space"]
    assert [e["node"]["number"] for e in history["revisions"]["edges"]] == [2, 1]
    assert [e["node"]["note"] for e in history["revisions"]["edges"]] == ["two", "one"]
    one = history["revisions"]["edges"][1]["node"]
    assert [b["node"]["id"] for b in one["blocks"]["edges"]] == blocks
    assert history["revision"]["number"] == 1

    diff = (await owner(DIFF, {"s": space, "f": 1, "t": 2}))["data"]["spaceRevisionDiff"]
    changes = {
        c["blockId"]: (c["change"], c["fromPosition"], c["toPosition"]) for c in diff["blocks"]
    }
    assert changes == {
        blocks[0]: ("CHANGED", 0, 0),
        blocks[1]: ("REMOVED", 1, None),
        blocks[2]: ("MOVED", 2, 1),
        new_block: ("ADDED", None, 2),
    }
    # against the draft: nothing changed since revision 2
    same = (await owner(DIFF, {"s": space, "f": 2}))["data"]["spaceRevisionDiff"]
    assert same == {"fromNumber": 2, "toNumber": None, "fields": [], "blocks": []}

    # restore revision 1 into the draft: widgets still read revision 2 until published
    restored = (await owner(RESTORE, {"id": space, "r": one["id"]}))["data"]["spaceRestore"]
    assert restored["userErrors"] == []
    assert restored["space"]["state"] == "CHANGED"
    assert [b["node"]["id"] for b in restored["space"]["blocks"]["edges"]] == blocks
    assert restored["space"]["blocks"]["edges"][0]["node"]["body"]["text"] == "Block 0"
    back = (await owner(DIFF, {"s": space, "f": 1}))["data"]["spaceRevisionDiff"]
    assert back["blocks"] == [] and back["fields"] == []

    # a revision of another space is refused, clearly, and nothing changes
    other, _ = await make_space(owner_url, t.tenant_id, blocks=1)
    await owner(PUBLISH, {"id": other})
    foreign = (await owner(HISTORY, {"id": other}))["data"]["space"]["revisions"]["edges"][0]
    wrong = (await owner(RESTORE, {"id": space, "r": foreign["node"]["id"]}))["data"][
        "spaceRestore"
    ]
    assert [(e["code"], e["field"]) for e in wrong["userErrors"]] == [
        ("REVISION_OF_OTHER_SPACE", ["revision"])
    ]


async def test_lifecycle_is_audited_with_events(api, new_tenant, owner_url, owner_engine):
    t = await new_tenant("A")
    owner = api(t.token)
    space, _ = await make_space(owner_url, t.tenant_id, blocks=1)
    await owner(PUBLISH, {"id": space})
    await owner(UNPUBLISH, {"id": space})
    rev = (await owner(HISTORY, {"id": space}))["data"]["space"]["revisions"]["edges"][0]
    await owner(RESTORE, {"id": space, "r": rev["node"]["id"]})
    async with owner_db(owner_engine, t.tenant_id) as db:
        events = list(
            await db.scalars(
                text(
                    "SELECT topic FROM domain_events WHERE tenant_id = :t ORDER BY created_at, id"
                ),
                {"t": t.tenant_id},
            )
        )
        audited = list(
            await db.scalars(
                text("SELECT operation FROM audit_log WHERE tenant_id = :t ORDER BY seq"),
                {"t": t.tenant_id},
            )
        )
    assert [e for e in events if e.startswith("space.")] == [
        "space.published",
        "space.unpublished",
        "space.restored",
    ]
    assert [a for a in audited if a.startswith("space_")] == [
        "space_publish",
        "space_unpublish",
        "space_restore",
    ]


async def test_revisions_are_immutable_to_the_application(app_engine, new_tenant, owner_url):
    t = await new_tenant("A")
    (_sid,) = await make_spaces(owner_url, t.tenant_id, 1, blocks_each=1, status="published")
    for statement in (
        "UPDATE space_revisions SET title = 'x'",
        "DELETE FROM space_revisions",
        "UPDATE block_revisions SET body = '{}'",
        "DELETE FROM block_revisions",
    ):
        async with app_engine.connect() as conn:
            with pytest.raises(Exception, match="permission denied"):
                await conn.execute(text(statement))


async def test_published_views_have_the_tables_columns(owner_engine):
    async with owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT table_schema, table_name, column_name, data_type "
                    "FROM information_schema.columns WHERE table_name IN ('spaces', 'blocks') "
                    "AND table_schema IN ('public', 'published') ORDER BY ordinal_position"
                )
            )
        ).all()
    for table in ("spaces", "blocks"):
        draft = [(c, d) for s, n, c, d in rows if s == "public" and n == table]
        shown = [(c, d) for s, n, c, d in rows if s == "published" and n == table]
        assert shown == draft, f"recreate the published views (migrations/published.py): {table}"


async def test_backfilled_and_factory_revisions_number_from_one(
    new_tenant, owner_url, owner_engine
):
    t = await new_tenant("A")
    (sid,) = await make_spaces(owner_url, t.tenant_id, 1, blocks_each=2, status="published")
    async with owner_db(owner_engine, t.tenant_id) as db:
        number = await db.scalar(
            text("SELECT number FROM space_revisions WHERE space_id = :s"), {"s": sid}
        )
        blocks = await db.scalar(
            text("SELECT count(*) FROM published.blocks WHERE space_id = :s"), {"s": sid}
        )
    assert (number, blocks) == (1, 2)


VISITOR_SPACE = "query($id: ID!) { space(id: $id) { title blocks { edges { node { id body } } } } }"
USAGE = """mutation($c: ID!, $s: ID!, $b: ID) { usageRecord(input: {contactId: $c, spaceId: $s,
  blockId: $b}) { recorded userErrors { code } } }"""


async def test_a_visitor_reads_the_published_revision_and_records_views_of_it(
    api, client, new_tenant, owner_url, settings
):
    # given a visitor of a published space whose draft has since lost a block
    t = await new_tenant("A")
    owner = api(t.token)
    space, blocks = await make_space(owner_url, t.tenant_id, blocks=2)
    await owner(PUBLISH, {"id": space})
    sid = decode_id(space, "Space")
    (jane,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("analytics",))
    await make_access(owner_url, t.tenant_id, sid, [jane])
    session = await open_visitor(client, settings.secret(), t.tenant_id, sid, jane)
    visitor = PersistedApi(client, session["visitorToken"], owner)
    removed = await owner(
        "mutation($id: ID!) { blockRemove(id: $id) { userErrors { code } } }", {"id": blocks[1]}
    )
    assert removed["data"]["blockRemove"]["userErrors"] == []

    # then the visitor still reads both blocks, and a view of the removed one is recorded
    # (for the space: usage rows reference the draft's blocks)
    shown = (await visitor(VISITOR_SPACE, {"id": space}))["data"]["space"]
    assert [e["node"]["id"] for e in shown["blocks"]["edges"]] == blocks
    cid = encode_id("Contact", jane)
    for block in blocks:
        done = (await visitor(USAGE, {"c": cid, "s": space, "b": block}))["data"]["usageRecord"]
        assert done["userErrors"] == [] and done["recorded"], done
    async with owner_db(owner_url, t.tenant_id) as db:
        recorded = list(
            await db.scalars(
                text("SELECT block_id FROM usage_events WHERE tenant_id = :t ORDER BY occurred_at"),
                {"t": t.tenant_id},
            )
        )
    assert recorded == [decode_id(blocks[0], "Block"), None]

    # and once published, the removed block is gone for the visitor too
    await owner(PUBLISH, {"id": space})
    shown = (await visitor(VISITOR_SPACE, {"id": space}))["data"]["space"]
    assert [e["node"]["id"] for e in shown["blocks"]["edges"]] == blocks[:1]


async def test_deleting_a_space_deletes_its_revisions(api, new_tenant, owner_url):
    t = await new_tenant("A")
    owner = api(t.token)
    space, _ = await make_space(owner_url, t.tenant_id, blocks=2)
    await owner(PUBLISH, {"id": space, "n": "kept until the space goes"})
    await owner(PUBLISH, {"id": space})
    deleted = await owner(
        "mutation($id: ID!) { spaceDelete(id: $id) { userErrors { code } } }", {"id": space}
    )
    assert deleted["data"]["spaceDelete"]["userErrors"] == []
    async with owner_db(owner_url, t.tenant_id) as db:
        left = await db.scalar(
            text(
                "SELECT (SELECT count(*) FROM space_revisions WHERE space_id = :s) "
                "+ (SELECT count(*) FROM block_revisions WHERE space_id = :s)"
            ),
            {"s": decode_id(space, "Space")},
        )
    assert left == 0


HISTORY_READ = """query($id: ID!) { space(id: $id) { id state
  published { number title } revisions { totalCount } } }"""
ENFORCER = load_enforcer()
READERS = [("member", r.value) for r in Role] + [
    ("partner", s) for s in ("spaces:read", "spaces:write", "contacts:read")
]


def test_a_revision_holds_no_personal_data_field():
    # the history carries content and ids only: nothing for redaction to mask or withhold
    sdl = print_schema(build_schema()._schema)
    for type_name in ("SpaceRevision", "SpaceRevisionDiff", "BlockChange"):
        start = sdl.index(f"type {type_name} ")
        assert "@personalData" not in sdl[start : sdl.index("\n}", start)], type_name
    assert "@personalData" in sdl  # the check would see one


@pytest.mark.parametrize(("kind", "who"), READERS)
async def test_history_is_read_as_the_policy_says(
    api, new_tenant, new_member, owner_url, kind, who
):
    t = await new_tenant("A")
    space, _ = await make_space(owner_url, t.tenant_id, blocks=1)
    await api(t.token)(PUBLISH, {"id": space})
    if kind == "member":
        token = (await new_member(t.tenant_id, who)).token
    else:
        token = await mint_key(api(t.token), "partner", [who])
    result = await api(token)(HISTORY_READ, {"id": space})
    if not ENFORCER.enforce(who, str(t.tenant_id), "Space", "read"):
        assert error_codes(result) == ["FORBIDDEN"]
        return
    allowed = ENFORCER.enforce(who, str(t.tenant_id), "SpaceRevision", "read")
    got = result["data"]["space"]
    assert got["state"] == "PUBLISHED"
    if allowed:
        assert "errors" not in result, result
        assert got["published"] == {"number": 1, "title": "Space 0"}
        assert got["revisions"] == {"totalCount": 1}
    else:
        assert got["published"] is None and got["revisions"] is None
        assert sorted(error_codes(result)) == ["FORBIDDEN", "FORBIDDEN"]
