"""Merge fields in block text, through HTTP on both read paths.

Invariants:
- a merge field is stored as written and filled in when read; the stored body holds no
  contact's data;
- a member or partner key sees the personalised space's contact as its redaction allows:
  the value, the mask, or (withheld) the fallback;
- a visitor sees their own values; a widget key sees the fallbacks (no fallback: nothing);
- the compiled path and the resolver path give the same answer;
- an unknown, malformed or misplaced merge field is refused on every write form, with the
  field path and the character offset, and nothing is written;
- `\\{{` is a literal `{{` and `\\\\{{` a backslash before a merge field, alike when saved,
  on both read paths and in the SQL function and its Python twin (compared on generated
  texts).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from core.db import owner_db
from core.ids import encode_id
from models import Block, Member, Space
from tests.factories import make_access, make_contacts, make_key, make_spaces, mint_key, publish
from tests.widgets import PersistedApi, open_visitor

TEXT = "Hello {{contact.firstName | there}} from {{ contact.company|your company }}, {{member.fullName}}"
# a checklist: merge fields in a list, and a fallback with characters JSON escapes
ITEM = "Sign, {{contact.fullName | dear client \\ ü\t}}"
BLOCKS = """query($id: ID!) { space(id: $id) { blocks { edges { node {
  body content { ... on HeadingBody { text } } } } } } }"""
ADD = """mutation($input: BlockAddInput!) { blockAdd(input: $input) {
  block { id body } userErrors { code field message offset } } }"""
UPDATE = """mutation($input: BlockUpdateInput!) { blockUpdate(input: $input) {
  block { id body } userErrors { code field message offset } } }"""


async def _world(new_tenant, new_member, owner_url, *, status: str = "published") -> Any:
    t = await new_tenant("Merge")
    advisor = await new_member(t.tenant_id, "editor")
    jane = (
        await make_contacts(owner_url, t.tenant_id, 1, full_name="Jane Doe", company="Initech")
    )[0]
    space = (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=1, status=status))[0]
    async with owner_db(owner_url, t.tenant_id) as db:
        await db.execute(
            update(Member).where(Member.id == advisor.member_id).values(full_name="Sam Advisor")
        )
        await db.execute(
            update(Space)
            .where(Space.id == space)
            .values(contact_id=jane, member_id=advisor.member_id)
        )
        await db.execute(update(Block).values(body={"text": TEXT, "level": 2}))
    if status == "published":
        await publish(owner_url, t.tenant_id, space)  # the text, as widgets and visitors read it
    return t, space, jane


def _texts(result: dict[str, Any]) -> list[str]:
    edges = result["data"]["space"]["blocks"]["edges"]
    texts = [e["node"]["body"]["text"] for e in edges]
    assert texts == [e["node"]["content"]["text"] for e in edges], result
    return texts


def _answered(app: Any, read_path: str, before: int) -> None:
    """The read path under test answered (a compiled read that fell back checks nothing)."""
    assert (app.state.compiled_reads.compiled > before) == (read_path == "compiled")


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("owner", "Hello Jane from Initech, Sam Advisor"),
        ("editor", "Hello Jane from Initech, Sam Advisor"),
        # viewers read names, not the company: withheld, so the fallback
        ("viewer", "Hello Jane from your company, Sam Advisor"),
        # contacts:read reads contacts masked: the masks of the Contact fields
        ("contacts:read", "Hello J*** from I***, Sam Advisor"),
        ("spaces:read", "Hello there from your company, Sam Advisor"),
    ],
)
async def test_members_and_keys_see_the_contact_as_their_redaction_allows(
    api, served_app, new_tenant, new_member, owner_url, read_path, who, expected
):
    t, space, _ = await _world(new_tenant, new_member, owner_url)
    if who == "owner":
        token = t.token
    elif ":" in who:
        token = await make_key(owner_url, t.tenant_id, "partner", ["spaces:read", who])
    else:
        token = (await new_member(t.tenant_id, who)).token
    before = served_app.state.compiled_reads.compiled

    result = await api(token)(BLOCKS, {"id": encode_id("Space", space)})

    _answered(served_app, read_path, before)
    assert _texts(result) == [expected]


async def test_the_stored_body_keeps_the_merge_fields(api, new_tenant, new_member, owner_url):
    t, space, _ = await _world(new_tenant, new_member, owner_url)
    block = await api(t.token)(
        ADD,
        {"input": {"spaceId": encode_id("Space", space), "content": {"heading": {"text": TEXT}}}},
    )
    assert block["data"]["blockAdd"]["userErrors"] == []
    assert block["data"]["blockAdd"]["block"]["body"]["text"].startswith("Hello Jane")

    async with owner_db(owner_url, t.tenant_id) as db:
        stored = list(await db.scalars(select(Block.body)))
    assert [b["text"] for b in stored] == [TEXT, TEXT]
    assert not any("Jane" in str(b) or "Initech" in str(b) for b in stored)


async def test_a_widget_sees_the_fallbacks(
    api, client, served_app, new_tenant, new_member, owner_url, read_path
):
    t, space, _ = await _world(new_tenant, new_member, owner_url)
    async with owner_db(owner_url, t.tenant_id) as db:
        block = await db.scalar(select(Block.id))
        db.add(
            Block(
                id=uuid.uuid4(),
                space_id=space,
                kind="checklist",
                position=1,
                body={"items": [{"text": ITEM, "checked": False}]},
            )
        )
    await publish(owner_url, t.tenant_id, space)  # what the widget reads
    key = await mint_key(
        api(t.token),
        "widget",
        [],
        spaceIds=[encode_id("Space", space)],
        allowedOrigins=["https://shop.example"],
    )
    widget = PersistedApi(client, key, api(t.token))
    query = """query($id: ID!) { space(id: $id) { blocks { edges { node {
      body content { ... on HeadingBody { text } ... on ChecklistBody { items { text } } } } } } } }"""
    before = served_app.state.compiled_reads.compiled

    result = await widget(query, {"id": encode_id("Space", space)})

    _answered(served_app, read_path, before)
    nodes = [e["node"] for e in result["data"]["space"]["blocks"]["edges"]]
    # no reader, no values: each field its fallback, and `member.fullName` has none
    assert nodes[0]["body"]["text"] == "Hello there from your company, "
    assert nodes[0]["content"]["text"] == nodes[0]["body"]["text"]
    assert nodes[1]["body"]["items"][0]["text"] == "Sign, dear client \\ ü\t"
    assert nodes[1]["content"]["items"][0]["text"] == "Sign, dear client \\ ü\t"
    assert block is not None


async def test_each_visitor_sees_their_own_values(
    api, client, served_app, new_tenant, new_member, owner_url, settings, read_path
):
    # a space shared with two contacts, personalised for neither: each sees their own
    t, space, _ = await _world(new_tenant, new_member, owner_url)
    async with owner_db(owner_url, t.tenant_id) as db:
        await db.execute(update(Space).values(contact_id=None))
    ann, bob = await make_contacts(owner_url, t.tenant_id, 2, full_name="X", company="Y")
    async with owner_db(owner_url, t.tenant_id) as db:
        from models import Contact

        await db.execute(
            update(Contact).where(Contact.id == ann).values(full_name="Ann Lee", company="Acme")
        )
        await db.execute(
            update(Contact).where(Contact.id == bob).values(full_name="Bob Ray", company=None)
        )
    await make_access(owner_url, t.tenant_id, space, [ann, bob])
    seen = {}
    for contact in (ann, bob):
        session = await open_visitor(client, settings.secret(), t.tenant_id, space, contact)
        visitor = PersistedApi(client, session["visitorToken"], api(t.token))
        before = served_app.state.compiled_reads.compiled
        seen[contact] = _texts(await visitor(BLOCKS, {"id": encode_id("Space", space)}))
        _answered(served_app, read_path, before)

    assert seen[ann] == ["Hello Ann from Acme, Sam Advisor"]
    assert seen[bob] == ["Hello Bob from your company, Sam Advisor"]


BAD = [
    # (text, offset, words in the message)
    ("Hi {{contact.nickname}}", 3, "unknown merge field `contact.nickname`"),
    ("Hi {{contact.firstName", 3, "malformed"),
    ("{{contact.firstName}} and {{ contact.firstName | a {b} }}", 26, "malformed"),
    ("Hi {{Contact.firstName}}", 3, "malformed"),
    # an escaped backslash leaves the merge field after it to be checked
    ("Hi \\\\{{contact.nickname}}", 5, "unknown merge field `contact.nickname`"),
]


@pytest.mark.parametrize(("text", "offset", "words"), BAD)
@pytest.mark.parametrize("form", ["add content", "add body", "update content", "update body"])
async def test_a_bad_merge_field_is_refused_with_its_place(
    api, new_tenant, new_member, owner_url, form, text, offset, words
):
    t, space, _ = await _world(new_tenant, new_member, owner_url)
    async with owner_db(owner_url, t.tenant_id) as db:
        block = encode_id("Block", await db.scalar(select(Block.id)))
    items = [{"text": "fine"}, {"text": text}]
    if form.startswith("add"):
        input: dict[str, Any] = {"spaceId": encode_id("Space", space)}
        query, root = ADD, "blockAdd"
    else:
        input = {"id": block}
        query, root = UPDATE, "blockUpdate"
    if form.endswith("content"):
        input["content"] = {"checklist": {"items": items}}
        field = ["content", "checklist", "items", "1", "text"]
    else:
        input["body"] = {"items": items}
        if form.startswith("add"):
            input["kind"] = "CHECKLIST"
        field = ["body", "items", "1", "text"]

    result = await api(t.token)(query, {"input": input})

    if form.startswith("update"):
        # the block is a heading: the checklist is refused for its kind before its text
        input.pop("content", None)
        input["body" if form.endswith("body") else "content"] = (
            {"text": text} if form.endswith("body") else {"heading": {"text": text}}
        )
        field = ["body", "text"] if form.endswith("body") else ["content", "heading", "text"]
        result = await api(t.token)(query, {"input": input})
    payload = result["data"][root]
    assert payload["block"] is None, result
    (error,) = payload["userErrors"]
    assert error["code"] == "INVALID_MERGE_FIELD"
    assert error["field"] == field
    assert error["offset"] == offset
    assert words in error["message"] and f"character {offset}" in error["message"]
    async with owner_db(owner_url, t.tenant_id) as db:
        stored = list(await db.scalars(select(Block.body)))
    assert stored == [{"text": TEXT, "level": 2}]


async def test_a_merge_field_in_a_url_is_refused(api, new_tenant, new_member, owner_url):
    t, space, _ = await _world(new_tenant, new_member, owner_url)
    url = "https://example.com/?n={{contact.firstName}}"
    result = await api(t.token)(
        ADD,
        {"input": {"spaceId": encode_id("Space", space), "content": {"link": {"url": url}}}},
    )
    (error,) = result["data"]["blockAdd"]["userErrors"]
    # refused as a URL, or as a merge field there: never stored
    assert error["field"][:3] == ["content", "link", "url"], error
    async with owner_db(owner_url, t.tenant_id) as db:
        assert await db.scalar(select(Block.id).where(Block.kind == "link")) is None


def test_the_lane_forms_write_no_bad_merge_field():
    """The fast lane's write forms give nothing to write (the whole way answers)."""
    from compiler.writes import _block_add, _block_update

    bad = {"text": "Hi {{contact.nickname}}"}
    block = encode_id("Block", uuid.uuid4())
    space = encode_id("Space", uuid.uuid4())
    assert _block_update({"id": block, "body": bad}, "member") is None
    assert _block_add({"spaceId": space, "kind": "heading", "body": bad}, "member") is None
    good = {"text": "Hi {{contact.firstName | you}}"}
    assert _block_update({"id": block, "body": good}, "member") is not None


# `\{{` a literal `{{`, `\\{{` a backslash before a merge field; any other backslash is text
ESCAPED = (
    r"Write \{{contact.firstName}} to greet; \\{{contact.firstName | there}}; "
    r"a\b \{{ and {{contact.company | co}}"
)


async def test_an_escaped_brace_pair_reads_as_text(
    api, client, served_app, new_tenant, new_member, owner_url, read_path
):
    # given a heading with escapes, saved through the API (accepted: nothing is malformed)
    t, space, jane = await _world(new_tenant, new_member, owner_url)
    async with owner_db(owner_url, t.tenant_id) as db:
        block = encode_id("Block", await db.scalar(select(Block.id)))
        from models import Contact

        # a value is never read for merge fields again
        await db.execute(update(Contact).where(Contact.id == jane).values(company=r"I\{{x}}"))
    saved = await api(t.token)(UPDATE, {"input": {"id": block, "body": {"text": ESCAPED}}})
    assert saved["data"]["blockUpdate"]["userErrors"] == []
    await publish(owner_url, t.tenant_id, space)
    key = await mint_key(
        api(t.token),
        "widget",
        [],
        spaceIds=[encode_id("Space", space)],
        allowedOrigins=["https://shop.example"],
    )
    widget = PersistedApi(client, key, api(t.token))

    # when the owner and a widget read it
    before = served_app.state.compiled_reads.compiled
    owner_sees = _texts(await api(t.token)(BLOCKS, {"id": encode_id("Space", space)}))
    _answered(served_app, read_path, before)
    widget_sees = _texts(await widget(BLOCKS, {"id": encode_id("Space", space)}))

    # then the escapes are text, the backslash before a field stays, other backslashes too
    assert owner_sees == [r"Write {{contact.firstName}} to greet; \Jane; a\b {{ and I\{{x}}"]
    assert widget_sees == [r"Write {{contact.firstName}} to greet; \there; a\b {{ and co"]
    async with owner_db(owner_url, t.tenant_id) as db:
        assert [b["text"] for b in await db.scalars(select(Block.body))] == [ESCAPED]


def _generated_texts(n: int) -> list[str]:
    """Texts dense in what the escape is about: backslashes, braces, merge fields."""
    import random

    rng = random.Random(23)
    pieces = [
        "\\",
        "\\\\",
        "{{",
        "}}",
        "{",
        "}",
        "a",
        " ",
        '"',
        "|",
        "\n",
        "ü",
        "{{contact.firstName}}",
        "{{ contact.company | co\\ }}",
        "{{member.fullName|}}",
        "{{contact.fullName | dear \t client}}",
    ]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(n)]


async def test_the_sql_function_and_its_python_twin_agree(owner_engine):
    from sqlalchemy import text

    from store.merge_fields import resolve

    texts = _generated_texts(3000)
    values = {"contact.firstName": 'J\\"{{a}}', "contact.fullName": "", "member.fullName": "S"}
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT t.i, app_merge_fields(jsonb_build_object('text', t.x), "
                "CAST(:v AS jsonb)) ->> 'text' AS merged, "
                "app_merge_fields(jsonb_build_object('text', t.x), NULL) ->> 'text' AS bare "
                "FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS t(x, i)"
            ),
            {"texts": texts, "v": __import__("json").dumps(values)},
        )
        found = {r.i - 1: (r.merged, r.bare) for r in rows}
    differ = [
        (t, found[i])
        for i, t in enumerate(texts)
        if found[i] != (resolve(t, values), resolve(t, None))
    ]
    assert differ == []
    # the draw holds each case the escape has
    assert any("\\\\{{contact" in t for t in texts) and any("\\{{contact" in t for t in texts)
