"""Personalised spaces that follow their template, through HTTP.

Invariants:
- publishing a template republishes the published spaces that follow it: each takes the
  template's blocks, a new revision, visible to its contact at once;
- a copy a member changed (overridden) and a block a member added stay as they are; a copy
  of a block the template removed goes; a block the template gained is added;
- a follower's title and description follow the template's unless a member changed them
  (`titleOverridden`, `descriptionOverridden`; giving the same value again is no change),
  on the lean write and the full one alike;
- a space personalised with `followTemplate: false` keeps what it had;
- a follower of another tenant's template does not exist: another tenant's spaces are
  untouched.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from core.db import owner_db
from core.ids import decode_id, encode_id
from models import Block, Space
from tests.test_templates import ADD, CREATE, _contacts, personalised
from tests.widgets import PersistedApi, open_visitor

UPDATE = """mutation($input: BlockUpdateInput!) { blockUpdate(input: $input) {
  block { id overridden } userErrors { code } } }"""
REMOVE = "mutation($id: ID!) { blockRemove(id: $id) { deletedBlockId } }"
PUBLISH = "mutation($id: ID!) { spacePublish(id: $id) { space { id } userErrors { code } } }"
MINE = """{ spaces(first: 10) { edges { node { id
  blocks { edges { node { content { ... on HeadingBody { text } } } } } } } } }"""


async def _heading(owner: Any, space: str, text: str) -> str:
    added = await owner(ADD, {"input": {"spaceId": space, "content": {"heading": {"text": text}}}})
    assert added["data"]["blockAdd"]["userErrors"] == [], added
    return str(added["data"]["blockAdd"]["block"]["id"])


async def _seen(client: Any, settings: Any, owner: Any, tenant_id: Any, space, contact) -> list:
    session = await open_visitor(client, settings.secret(), tenant_id, space, contact)
    result = await PersistedApi(client, session["visitorToken"], owner)(MINE)
    (edge,) = result["data"]["spaces"]["edges"]
    return [e["node"]["content"]["text"] for e in edge["node"]["blocks"]["edges"]]


async def test_publishing_a_template_republishes_its_followers(
    api, client, app_engine, new_tenant, owner_url, settings
):
    # given a template personalised for three contacts, the third not following it
    t, other = await new_tenant("Follow"), await new_tenant("Other")
    owner = api(t.token)
    made = await owner(CREATE, {"input": {"title": "Welcome", "isTemplate": True}})
    template = made["data"]["spaceCreate"]["space"]["id"]
    greeting = await _heading(owner, template, "Hello {{contact.firstName}}")
    plain = await _heading(owner, template, "Plain")
    assert "errors" not in await owner(PUBLISH, {"id": template})
    ann, bob, cy = await _contacts(owner_url, t.tenant_id, 3)
    for contacts, follow in (([ann, bob], True), ([cy], False)):
        ids = [encode_id("Contact", c) for c in contacts]
        input = {"templateId": template, "contactIds": ids, "followTemplate": follow}
        assert (await personalised(owner, app_engine, input))["state"] == "COMPLETED"
    async with owner_db(owner_url, t.tenant_id) as db:
        spaces = {s.contact_id: s.id for s in await db.scalars(select(Space))}
        copy = await db.scalar(
            select(Block.id).where(
                Block.space_id == spaces[ann],
                Block.template_block_id == decode_id(plain, "Block"),
            )
        )
    # Ann's space: a member changes the copy of "Plain" and adds a block of her own
    changed = await owner(
        UPDATE,
        {"input": {"id": encode_id("Block", copy), "content": {"heading": {"text": "Ann's"}}}},
    )
    assert changed["data"]["blockUpdate"]["block"]["overridden"] is True
    await _heading(owner, encode_id("Space", spaces[ann]), "Extra")
    assert "errors" not in await owner(PUBLISH, {"id": encode_id("Space", spaces[ann])})
    # the other tenant has a space with the same content
    theirs = await api(other.token)(CREATE, {"input": {"title": "Theirs"}})
    their_space = theirs["data"]["spaceCreate"]["space"]["id"]
    await _heading(api(other.token), their_space, "Plain")

    # when the template changes (one block changed, one removed, one added) and is published
    await owner(
        UPDATE,
        {"input": {"id": greeting, "content": {"heading": {"text": "Hi {{contact.firstName}}!"}}}},
    )
    await owner(REMOVE, {"id": plain})
    await _heading(owner, template, "New")
    published = await owner(PUBLISH, {"id": template})
    assert published["data"]["spacePublish"]["userErrors"] == [], published

    # then each follower shows the template's blocks, keeping the member's changes
    seen = {
        c: await _seen(client, settings, owner, t.tenant_id, spaces[c], c) for c in (ann, bob, cy)
    }
    # Ann's changed copy of the removed block stays, as a block of her space's own, at its
    # place after the template's block now there
    assert seen[ann] == ["Hi Fn000x!", "New", "Ann's", "Extra"]
    assert seen[bob] == ["Hi Fn001x!", "New"]
    assert seen[cy] == ["Hello Fn002x", "Plain"]  # not following: as it was
    async with owner_db(owner_url, other.tenant_id) as db:
        assert [b.body["text"] for b in await db.scalars(select(Block))] == ["Plain"]


SPACE_UPDATE = """mutation($input: SpaceUpdateInput!) { spaceUpdate(input: $input) {
  space { title description titleOverridden descriptionOverridden } userErrors { code } } }"""
TEXTS = """query($id: ID!) { space(id: $id) { title description titleOverridden
  descriptionOverridden state published { title description } } }"""


async def test_a_followers_title_and_description_follow_unless_changed(
    api, app_engine, new_tenant, owner_url
):
    # given a template personalised for three contacts, the third not following it
    t = await new_tenant("Texts")
    owner = api(t.token)
    input = {"title": "Welcome", "description": "Start here", "isTemplate": True}
    made = await owner(CREATE, {"input": input})
    template = made["data"]["spaceCreate"]["space"]["id"]
    await _heading(owner, template, "Hello")
    assert "errors" not in await owner(PUBLISH, {"id": template})
    ann, bob, cy = await _contacts(owner_url, t.tenant_id, 3)
    for contacts, follow in (([ann, bob], True), ([cy], False)):
        ids = [encode_id("Contact", c) for c in contacts]
        given = {"templateId": template, "contactIds": ids, "followTemplate": follow}
        assert (await personalised(owner, app_engine, given))["state"] == "COMPLETED"
    async with owner_db(owner_url, t.tenant_id) as db:
        spaces = {
            s.contact_id: encode_id("Space", s.id)
            for s in await db.scalars(select(Space).where(Space.contact_id.is_not(None)))
        }

    async def update(space: str, **changes: str) -> dict:
        result = await owner(SPACE_UPDATE, {"input": {"id": space, **changes}})
        assert result["data"]["spaceUpdate"]["userErrors"] == [], result
        return dict(result["data"]["spaceUpdate"]["space"])

    # a member changes Ann's title (the lean write) and Bob's description (with his slug:
    # the full write); Bob's title is given again as it is: no change
    assert await update(spaces[ann], title="Ann's welcome") == {
        "title": "Ann's welcome",
        "description": "Start here",
        "titleOverridden": True,
        "descriptionOverridden": False,
    }
    bob_changed = await update(
        spaces[bob], title="Welcome", description="Bob's notes", slug=f"bob-{uuid.uuid4().hex[:6]}"
    )
    assert (bob_changed["titleOverridden"], bob_changed["descriptionOverridden"]) == (False, True)
    assert (await update(template, title="Welcome"))["titleOverridden"] is False  # a template

    # when the template's title and description change and it is published
    await update(template, title="Welcome aboard", description="Start here, please")
    assert "errors" not in await owner(PUBLISH, {"id": template})

    # then each follower takes what a member did not change, in its draft and published
    async def texts(space: str) -> dict:
        return dict((await owner(TEXTS, {"id": space}))["data"]["space"])

    assert await texts(spaces[ann]) == {
        "title": "Ann's welcome",
        "description": "Start here, please",
        "titleOverridden": True,
        "descriptionOverridden": False,
        "state": "PUBLISHED",
        "published": {"title": "Ann's welcome", "description": "Start here, please"},
    }
    assert await texts(spaces[bob]) == {
        "title": "Welcome aboard",
        "description": "Bob's notes",
        "titleOverridden": False,
        "descriptionOverridden": True,
        "state": "PUBLISHED",
        "published": {"title": "Welcome aboard", "description": "Bob's notes"},
    }
    cy_now = await texts(spaces[cy])  # not following: as it was made
    assert (cy_now["title"], cy_now["description"]) == ("Welcome", "Start here")
