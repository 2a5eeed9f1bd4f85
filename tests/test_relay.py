"""Relay and listing conventions, through HTTP.

Invariants guarded here:
- `nodes(ids:)` answers in order; a missing or foreign ID is null plus NOT_FOUND at its own
  index, and the others still come back;
- `last`/`before` pages are the same rows as `first`/`after` pages, read from the other end,
  with page info to match; `first` and `last` together are refused;
- `orderBy` orders spaces and contacts by each field in both directions, pages stay
  consistent under it, and a cursor of one order is refused by another;
- ordering contacts by name needs full `read` on `Contact.fullName` (no ordering oracle);
- `updatedSince` returns only what changed since then;
- block content is typed by kind, and `BlockAddInput.kind` is the `BlockKind` enum.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.ids import encode_id
from tests.conftest import error_codes
from tests.factories import make_contacts, make_key, make_space, make_spaces

SPACES = """query($first: Int, $after: String, $last: Int, $before: String, $order: SpaceOrder,
  $since: DateTime) {
  spaces(first: $first, after: $after, last: $last, before: $before, orderBy: $order,
         updatedSince: $since) {
    edges { cursor node { id title } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
CONTACTS = """query($first: Int, $after: String, $last: Int, $before: String, $order: ContactOrder) {
  contacts(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    edges { node { id fullName } }
  }
}"""


async def _titled_spaces(owner_url: Any, tenant_id: uuid.UUID, titles: list[str]) -> None:
    for title in titles:  # one transaction each: distinct creation times
        await make_spaces(owner_url, tenant_id, 1, title=title)


async def _walk(owner, variables: dict[str, Any], *, backward: bool) -> list[str]:
    """Every title, page by page of 2, forwards with first/after or backwards with last/before."""
    titles: list[str] = []
    cursor = None
    while True:
        page_vars = dict(
            variables,
            **({"last": 2, "before": cursor} if backward else {"first": 2, "after": cursor}),
        )
        conn = (await owner(SPACES, page_vars))["data"]["spaces"]
        page = [e["node"]["title"] for e in conn["edges"]]
        titles = page + titles if backward else titles + page
        info = conn["pageInfo"]
        more = info["hasPreviousPage"] if backward else info["hasNextPage"]
        if not more:
            return titles
        cursor = info["startCursor"] if backward else info["endCursor"]


async def test_nodes_answer_each_id_at_its_index(api, new_tenant, owner_url):
    tenant, other = await new_tenant(), await new_tenant()
    mine, blocks = await make_space(owner_url, tenant.tenant_id, blocks=1)
    foreign, _ = await make_space(owner_url, other.tenant_id)
    ids = [mine, foreign, blocks[0], encode_id("Space", uuid.uuid4())]
    result = await api(tenant.token)(
        "query($ids: [ID!]!) { viewer { kind } nodes(ids: $ids) { id __typename } }", {"ids": ids}
    )
    assert result["data"]["viewer"] == {"kind": "member"}
    assert result["data"]["nodes"] == [
        {"id": mine, "__typename": "Space"},
        None,
        {"id": blocks[0], "__typename": "Block"},
        None,
    ]
    assert sorted((e["path"], e["extensions"]["code"]) for e in result["errors"]) == [
        (["nodes", 1], "NOT_FOUND"),
        (["nodes", 3], "NOT_FOUND"),
    ]


async def test_backward_pages_are_the_forward_pages(api, new_tenant, owner_url):
    tenant = await new_tenant()
    await _titled_spaces(owner_url, tenant.tenant_id, ["a", "b", "c", "d", "e"])
    owner = api(tenant.token)
    forward = await _walk(owner, {}, backward=False)
    assert forward == ["e", "d", "c", "b", "a"]  # newest first
    assert await _walk(owner, {}, backward=True) == forward
    # the last page: its predecessors exist, nothing follows it
    conn = (await owner(SPACES, {"last": 2}))["data"]["spaces"]
    assert [e["node"]["title"] for e in conn["edges"]] == ["b", "a"]
    assert conn["pageInfo"]["hasPreviousPage"] is True
    assert conn["pageInfo"]["hasNextPage"] is False
    both = await owner(SPACES, {"first": 2, "last": 2})
    assert error_codes(both) == ["BAD_USER_INPUT"]
    too_many = await owner(SPACES, {"last": 10_000})
    assert error_codes(too_many) in (["PAGE_SIZE_LIMIT"], ["QUERY_TOO_COSTLY"])
    # the error names the argument the client sent
    negative = await owner(SPACES, {"last": -3})
    assert error_codes(negative) == ["BAD_USER_INPUT"]
    assert negative["errors"][0]["extensions"]["argument"] == "last"
    assert "`last`" in negative["errors"][0]["message"]


async def test_blocks_page_backwards(api, new_tenant, owner_url):
    tenant = await new_tenant()
    space_id, blocks = await make_space(owner_url, tenant.tenant_id, blocks=5)
    query = """query($id: ID!, $before: String) { space(id: $id) {
        blocks(last: 2, before: $before) { edges { cursor node { id position } }
        pageInfo { hasPreviousPage hasNextPage startCursor } } } }"""
    owner = api(tenant.token)
    last = (await owner(query, {"id": space_id}))["data"]["space"]["blocks"]
    assert [e["node"]["position"] for e in last["edges"]] == [3, 4]
    assert last["pageInfo"]["hasPreviousPage"] and not last["pageInfo"]["hasNextPage"]
    before = last["pageInfo"]["startCursor"]
    prev = (await owner(query, {"id": space_id, "before": before}))["data"]["space"]["blocks"]
    assert [e["node"]["id"] for e in prev["edges"]] == blocks[1:3]
    assert prev["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize(
    ("order", "expect"),
    [
        ({"field": "TITLE", "direction": "ASC"}, ["alpha", "bravo", "charlie", "delta"]),
        ({"field": "TITLE", "direction": "DESC"}, ["delta", "charlie", "bravo", "alpha"]),
        ({"field": "CREATED_AT", "direction": "ASC"}, ["charlie", "alpha", "delta", "bravo"]),
        ({"field": "CREATED_AT", "direction": "DESC"}, ["bravo", "delta", "alpha", "charlie"]),
    ],
)
async def test_spaces_order_by(api, new_tenant, owner_url, order, expect):
    tenant = await new_tenant()
    await _titled_spaces(owner_url, tenant.tenant_id, ["charlie", "alpha", "delta", "bravo"])
    owner = api(tenant.token)
    assert await _walk(owner, {"order": order}, backward=False) == expect
    assert await _walk(owner, {"order": order}, backward=True) == expect


async def test_updated_order_and_updated_since(api, new_tenant, owner_url):
    tenant = await new_tenant()
    await _titled_spaces(owner_url, tenant.tenant_id, ["old", "touched", "older"])
    owner = api(tenant.token)
    listed = (await owner(SPACES, {"first": 10}))["data"]["spaces"]["edges"]
    touched = next(e["node"]["id"] for e in listed if e["node"]["title"] == "touched")
    # given a space changed after a known instant
    now = await owner(
        'mutation($id: ID!) { spaceUpdate(input: {id: $id, description: "x"}) { space { updatedAt } } }',
        {"id": touched},
    )
    since = now["data"]["spaceUpdate"]["space"]["updatedAt"]
    # then updatedSince returns it alone, and UPDATED_AT DESC lists it first
    changed = (await owner(SPACES, {"since": since}))["data"]["spaces"]["edges"]
    assert [e["node"]["title"] for e in changed] == ["touched"]
    newest = await _walk(
        owner, {"order": {"field": "UPDATED_AT", "direction": "DESC"}}, backward=False
    )
    assert newest[0] == "touched"


async def test_cursor_of_another_order_is_refused(api, new_tenant, owner_url):
    tenant = await new_tenant()
    await _titled_spaces(owner_url, tenant.tenant_id, ["a", "b", "c"])
    owner = api(tenant.token)
    by_title = (await owner(SPACES, {"first": 1, "order": {"field": "TITLE"}}))["data"]
    cursor = by_title["spaces"]["pageInfo"]["endCursor"]
    result = await owner(SPACES, {"first": 1, "after": cursor, "order": {"field": "UPDATED_AT"}})
    assert error_codes(result) == ["INVALID_CURSOR"]


async def test_contacts_order_by_name_needs_read_on_the_name(api, new_tenant, owner_url):
    tenant = await new_tenant()
    await make_contacts(owner_url, tenant.tenant_id, 1, full_name="Zoe")
    await make_contacts(owner_url, tenant.tenant_id, 1, full_name="Adam")
    await make_contacts(owner_url, tenant.tenant_id, 1, full_name=None)
    await make_contacts(owner_url, tenant.tenant_id, 1, full_name="Mia")
    owner = api(tenant.token)
    for direction, expect in (
        ("ASC", [None, "Adam", "Mia", "Zoe"]),
        ("DESC", ["Zoe", "Mia", "Adam", None]),
    ):
        order = {"field": "NAME", "direction": direction}
        names: list[Any] = []
        after = None
        for _ in range(4):  # page by one: the nameless contact must not fall out of the keyset
            data = (
                await owner(
                    CONTACTS.replace("edges {", "pageInfo { endCursor } edges {"),
                    {"first": 1, "after": after, "order": order},
                )
            )["data"]
            names += [e["node"]["fullName"] for e in data["contacts"]["edges"]]
            after = data["contacts"]["pageInfo"]["endCursor"]
        assert names == expect
        back = (await owner(CONTACTS, {"last": 3, "order": order}))["data"]["contacts"]["edges"]
        assert [e["node"]["fullName"] for e in back] == expect[1:]
    # a partner that sees names masked may not order by them
    masked = api(await make_key(owner_url, tenant.tenant_id, "partner", ["contacts:read"]))
    refused = await masked(CONTACTS, {"order": {"field": "NAME"}})
    assert error_codes(refused) == ["FORBIDDEN"] and refused["data"] is None
    allowed = await masked(CONTACTS, {"order": {"field": "CREATED_AT", "direction": "DESC"}})
    assert error_codes(allowed) == [] and len(allowed["data"]["contacts"]["edges"]) == 4


BODIES = [
    (
        "HEADING",
        {"text": "Hi", "level": 3},
        {"__typename": "HeadingBody", "text": "Hi", "level": 3},
    ),
    (
        "RICH_TEXT",
        {"text": "*x*"},
        {"__typename": "RichTextBody", "format": "markdown", "text": "*x*"},
    ),
    (
        "LINK",
        {"url": "https://e.org"},
        {"__typename": "LinkBody", "url": "https://e.org", "label": None},
    ),
    (
        "FILE",
        {"url": "https://e.org/f.pdf", "name": "f.pdf", "sizeBytes": 3},
        {"__typename": "FileBody", "name": "f.pdf", "sizeBytes": 3, "mimeType": None},
    ),
    ("VIDEO", {"url": "https://e.org/v"}, {"__typename": "VideoBody", "caption": None}),
    ("EMBED", {"url": "https://e.org/e", "height": 60}, {"__typename": "EmbedBody", "height": 60}),
    (
        "CHECKLIST",
        {"items": [{"text": "a"}, {"text": "b", "checked": True}]},
        {
            "__typename": "ChecklistBody",
            "items": [{"text": "a", "checked": False}, {"text": "b", "checked": True}],
        },
    ),
]
CONTENT = """mutation($input: BlockAddInput!) { blockAdd(input: $input) { userErrors { code }
  block { kind content { __typename
    ... on HeadingBody { text level } ... on RichTextBody { format text }
    ... on LinkBody { url label } ... on FileBody { name sizeBytes mimeType }
    ... on VideoBody { caption } ... on EmbedBody { height }
    ... on ChecklistBody { items { text checked } } } } } }"""


@pytest.mark.parametrize(("kind", "body", "content"), BODIES)
async def test_block_content_is_typed_by_kind(api, new_tenant, owner_url, kind, body, content):
    tenant = await new_tenant()
    space_id, _ = await make_space(owner_url, tenant.tenant_id)
    result = await api(tenant.token)(
        CONTENT, {"input": {"spaceId": space_id, "kind": kind, "body": body}}
    )
    added = result["data"]["blockAdd"]
    assert added["userErrors"] == [] and added["block"]["kind"] == kind
    assert added["block"]["content"] == content
