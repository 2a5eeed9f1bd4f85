"""Spaces and blocks through HTTP: the flows a customer's frontend relies on, and bad input.

Invariants:
- every refused mutation (user error or GraphQL error) changes nothing;
- block positions stay 0..n-1 in order after add, move and remove;
- pagination walks every row exactly once.
"""

from __future__ import annotations

import pytest

from tests.conftest import error_codes
from tests.factories import make_space, make_spaces

CREATE = """mutation($input: SpaceCreateInput!) { spaceCreate(input: $input) {
    space { id title slug status description } userErrors { code field message } } }"""
ADD = """mutation($input: BlockAddInput!) { blockAdd(input: $input) {
    block { id kind position body } userErrors { code field message } } }"""
SPACE = """query($id: ID!) { space(id: $id) { title slug description status
    blocks { totalCount edges { node { id kind position body } } } } }"""
STATE = """{ spaces(first: 100) { totalCount edges { node { id title slug description status
    blocks(first: 100) { edges { node { id kind position body } } } } } } }"""


async def test_space_lifecycle(api, new_tenant):
    owner = api((await new_tenant()).token)
    created = (await owner(CREATE, {"input": {"title": "Onboarding Ü 2026!"}}))["data"][
        "spaceCreate"
    ]
    assert created["userErrors"] == []
    space = created["space"]
    assert space["slug"] == "onboarding-u-2026" and space["status"] == "DRAFT"

    published = await owner(
        "mutation($id: ID!) { spacePublish(id: $id) { space { status } } }", {"id": space["id"]}
    )
    assert published["data"]["spacePublish"]["space"]["status"] == "PUBLISHED"
    archived = await owner(
        "mutation($id: ID!) { spaceArchive(id: $id) { space { status } } }", {"id": space["id"]}
    )
    assert archived["data"]["spaceArchive"]["space"]["status"] == "ARCHIVED"
    listed = await owner(
        "{ spaces(status: ARCHIVED) { totalCount } drafts: spaces(status: DRAFT) { totalCount } }"
    )
    assert listed["data"] == {"spaces": {"totalCount": 1}, "drafts": {"totalCount": 0}}

    deleted = await owner(
        "mutation($id: ID!) { spaceDelete(id: $id) { deletedSpaceId } }", {"id": space["id"]}
    )
    assert deleted["data"]["spaceDelete"]["deletedSpaceId"] == space["id"]
    assert error_codes(await owner(SPACE, {"id": space["id"]})) == ["NOT_FOUND"]


async def test_block_positions_stay_dense(api, new_tenant, owner_url):
    tenant = await new_tenant()
    owner = api(tenant.token)
    space_id, blocks = await make_space(owner_url, tenant.tenant_id, blocks=3)  # texts "Block 0..2"

    first = await owner(
        ADD,
        {
            "input": {
                "spaceId": space_id,
                "kind": "rich_text",
                "body": {"text": "new"},
                "position": 0,
            }
        },
    )
    assert first["data"]["blockAdd"]["block"]["position"] == 0
    moved = await owner(
        "mutation($id: ID!) { blockMove(input: {id: $id, position: 3}) { block { position } } }",
        {"id": blocks[0]},
    )
    assert moved["data"]["blockMove"]["block"]["position"] == 3
    await owner("mutation($id: ID!) { blockRemove(id: $id) { deletedBlockId } }", {"id": blocks[1]})

    edges = (await owner(SPACE, {"id": space_id}))["data"]["space"]["blocks"]["edges"]
    assert [e["node"]["position"] for e in edges] == [0, 1, 2]
    assert [e["node"]["body"].get("text") for e in edges] == ["new", "Block 2", "Block 0"]


async def test_pagination_walks_every_space_once(api, new_tenant, owner_url):
    tenant = await new_tenant()
    ids = await make_spaces(owner_url, tenant.tenant_id, 7)
    seen, after = [], None
    while True:
        page = (
            await api(tenant.token)(
                "query($after: String) { spaces(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }",
                {"after": after},
            )
        )["data"]["spaces"]
        assert page["totalCount"] == 7
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == len(ids)


BAD_SPACES = [
    ({"title": ""}, "REQUIRED", ["title"]),
    ({"title": "x" * 201}, "TOO_LONG", ["title"]),
    ({"title": "ok", "slug": "Not A Slug"}, "INVALID_SLUG", ["slug"]),
    ({"title": "ok", "description": "d" * 5001}, "TOO_LONG", ["description"]),
    ({"title": "!!!"}, "REQUIRED", ["slug"]),
]


@pytest.mark.big_queries
@pytest.mark.parametrize(("input", "code", "field"), BAD_SPACES)
async def test_bad_space_input_is_a_user_error(api, new_tenant, input, code, field):
    owner = api((await new_tenant()).token)
    result = (await owner(CREATE, {"input": input}))["data"]["spaceCreate"]
    assert result["space"] is None
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, field)]
    assert result["userErrors"][0]["message"]
    assert (await owner(STATE))["data"]["spaces"]["totalCount"] == 0


@pytest.mark.big_queries
async def test_duplicate_slug_is_a_user_error_and_changes_nothing(api, new_tenant):
    owner = api((await new_tenant()).token)
    await owner(CREATE, {"input": {"title": "One", "slug": "same"}})
    other = (await owner(CREATE, {"input": {"title": "Two", "slug": "other"}}))["data"][
        "spaceCreate"
    ]["space"]
    before = await owner(STATE)

    dup = (await owner(CREATE, {"input": {"title": "Three", "slug": "same"}}))["data"][
        "spaceCreate"
    ]
    assert [e["code"] for e in dup["userErrors"]] == ["DUPLICATE_SLUG"]
    upd = await owner(
        'mutation($id: ID!) { spaceUpdate(input: {id: $id, slug: "same", title: "Renamed"}) { space { id } userErrors { code } } }',
        {"id": other["id"]},
    )
    assert [e["code"] for e in upd["data"]["spaceUpdate"]["userErrors"]] == ["DUPLICATE_SLUG"]
    assert await owner(STATE) == before


async def test_same_slug_in_two_tenants_is_fine(api, new_tenant):
    for _ in range(2):
        owner = api((await new_tenant()).token)
        assert (await owner(CREATE, {"input": {"title": "T", "slug": "shared"}}))["data"][
            "spaceCreate"
        ]["userErrors"] == []


BAD_BLOCKS = [
    ({"kind": "carousel", "body": {"text": "x"}}, "UNKNOWN_KIND", ["kind"]),
    ({"kind": "heading", "body": {"text": ""}}, "INVALID_BODY", ["body", "text"]),
    ({"kind": "heading", "body": {"text": "x", "level": 9}}, "INVALID_BODY", ["body", "level"]),
    ({"kind": "heading", "body": {"txt": "x"}}, "INVALID_BODY", ["body", "text"]),
    ({"kind": "link", "body": {"url": "javascript:alert(1)"}}, "INVALID_BODY", ["body", "url"]),
    ({"kind": "checklist", "body": {"items": []}}, "INVALID_BODY", ["body", "items"]),
    ({"kind": "rich_text", "body": "just a string"}, "INVALID_BODY", ["body"]),
    ({"kind": "heading", "body": {"text": "x"}, "position": 5}, "INVALID_POSITION", ["position"]),
    ({"kind": "heading", "body": {"text": "x"}, "position": -1}, "INVALID_POSITION", ["position"]),
]


@pytest.mark.big_queries
@pytest.mark.parametrize(("input", "code", "field"), BAD_BLOCKS)
async def test_bad_block_input_is_a_user_error(api, new_tenant, owner_url, input, code, field):
    tenant = await new_tenant()
    owner = api(tenant.token)
    space_id, _ = await make_space(owner_url, tenant.tenant_id, blocks=1)
    before = await owner(STATE)

    result = (await owner(ADD, {"input": {"spaceId": space_id, **input}}))["data"]["blockAdd"]

    assert result["block"] is None
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, field)]
    assert await owner(STATE) == before


@pytest.mark.big_queries
async def test_block_update_validates_against_its_kind(api, new_tenant, owner_url):
    tenant = await new_tenant()
    owner = api(tenant.token)
    _, blocks = await make_space(owner_url, tenant.tenant_id, blocks=1)
    before = await owner(STATE)
    result = await owner(
        'mutation($id: ID!) { blockUpdate(input: {id: $id, body: {items: [{text: "a"}]}}) { block { id } userErrors { code field } } }',
        {"id": blocks[0]},
    )
    assert result["data"]["blockUpdate"]["userErrors"][0]["code"] == "INVALID_BODY"
    assert await owner(STATE) == before


@pytest.mark.parametrize("bad_id", ["not-an-id", "", "U3BhY2U6bm90LWEtdXVpZA", "x" * 500])
async def test_invalid_id_is_a_clear_error(api, new_tenant, bad_id):
    owner = api((await new_tenant()).token)
    for query in (SPACE, "mutation($id: ID!) { spaceDelete(id: $id) { deletedSpaceId } }"):
        result = await owner(query, {"id": bad_id})
        assert error_codes(result) == ["INVALID_ID"]


async def test_block_id_where_space_id_expected_is_not_found(api, new_tenant, owner_url):
    tenant = await new_tenant()
    _, blocks = await make_space(owner_url, tenant.tenant_id, blocks=1)
    assert error_codes(await api(tenant.token)(SPACE, {"id": blocks[0]})) == ["NOT_FOUND"]


async def test_malformed_json_body_is_a_clear_400(client, new_tenant):
    tenant = await new_tenant()
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ spaces { totalCount } "',
        headers={"Authorization": f"Bearer {tenant.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize("cursor", ["garbage", "WyJ4Il0", ""])
async def test_bad_cursor_is_a_clear_error(api, new_tenant, cursor):
    owner = api((await new_tenant()).token)
    result = await owner("query($a: String) { spaces(after: $a) { totalCount } }", {"a": cursor})
    assert error_codes(result) == ["INVALID_CURSOR"]
