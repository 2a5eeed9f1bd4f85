"""Typed block input (`content: BlockContentInput`), through HTTP.

Invariants guarded here:
- `blockAdd` and `blockUpdate` take each kind's content as a typed input, one field per kind
  in a `@oneOf` input; the schema refuses a second kind, an unknown field or a wrong type;
- typed content and the deprecated JSON `body` pass one rule (store/block_bodies.py): the
  same content stores the same body and is refused with the same message, at its own field;
- exactly one of `content` and `body`: both, or neither, is a user error and writes nothing;
- content of one kind never lands in a block of another (an update says which kind it is);
- `body` is marked deprecated in introspection, and still works.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import error_codes
from tests.factories import make_space

BLOCK = """block { kind body content { __typename
    ... on HeadingBody { text level } ... on RichTextBody { format text }
    ... on LinkBody { url label } ... on FileBody { url name sizeBytes mimeType }
    ... on VideoBody { url caption } ... on EmbedBody { url title height }
    ... on ChecklistBody { items { text checked } } } }"""
ADD = (
    "mutation($input: BlockAddInput!) { blockAdd(input: $input) { "
    f"userErrors {{ code field message }} {BLOCK} }} }}"
)
UPDATE = (
    "mutation($input: BlockUpdateInput!) { blockUpdate(input: $input) { "
    f"userErrors {{ code field message }} {BLOCK} }} }}"
)
BODY_OF = "query($id: ID!) { block(id: $id) { body } }"

# (kind, the content's field, a content using every field, another for an update)
KINDS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("HEADING", "heading", {"text": "Hi", "level": 3}, {"text": "Hello"}),
    ("RICH_TEXT", "richText", {"text": "*x*", "format": "plain"}, {"text": "y"}),
    ("LINK", "link", {"url": "https://e.org", "label": "E"}, {"url": "https://e.org/2"}),
    (
        "FILE",
        "file",
        {"url": "https://e.org/f.pdf", "name": "f.pdf", "sizeBytes": 3, "mimeType": "a/b"},
        {"url": "https://e.org/g.pdf", "name": "g.pdf"},
    ),
    ("VIDEO", "video", {"url": "https://e.org/v", "caption": "V"}, {"url": "https://e.org/w"}),
    (
        "EMBED",
        "embed",
        {"url": "https://e.org/e", "title": "T", "height": 60},
        {"url": "https://e.org/e", "height": 4000},
    ),
    (
        "CHECKLIST",
        "checklist",
        {"items": [{"text": "a"}, {"text": "b", "checked": True}]},
        {"items": [{"text": "c", "checked": False}]},
    ),
]


async def _owner_and_space(api, new_tenant, owner_url):
    tenant = await new_tenant()
    space_id, _ = await make_space(owner_url, tenant.tenant_id)
    return api(tenant.token), space_id


@pytest.mark.parametrize(("kind", "field", "content", "changed"), KINDS)
async def test_each_kind_is_added_and_updated_with_typed_content(
    api, new_tenant, owner_url, kind, field, content, changed
):
    owner, space_id = await _owner_and_space(api, new_tenant, owner_url)
    # when a block is added with typed content, and another with the same JSON body
    typed = await owner(ADD, {"input": {"spaceId": space_id, "content": {field: content}}})
    untyped = await owner(ADD, {"input": {"spaceId": space_id, "kind": kind, "body": content}})
    # then both store the same body, read back in the same typed content
    added = typed["data"]["blockAdd"]
    assert added["userErrors"] == [] and added["block"]["kind"] == kind, typed
    assert added["block"]["body"] == untyped["data"]["blockAdd"]["block"]["body"]
    assert added["block"]["content"] == untyped["data"]["blockAdd"]["block"]["content"]
    # and an update with typed content replaces it
    block_id = (await owner("{ spaces { edges { node { blocks { edges { node { id } } } } } } }"))[
        "data"
    ]["spaces"]["edges"][0]["node"]["blocks"]["edges"][0]["node"]["id"]
    updated = await owner(UPDATE, {"input": {"id": block_id, "content": {field: changed}}})
    assert updated["data"]["blockUpdate"]["userErrors"] == [], updated
    stored = (await owner(BODY_OF, {"id": block_id}))["data"]["block"]["body"]
    assert {k: stored[k] for k in changed} == changed


async def test_one_rule_for_typed_content_and_json_bodies(api, new_tenant, owner_url):
    owner, space_id = await _owner_and_space(api, new_tenant, owner_url)
    bad = {"text": "Hi", "level": 9}
    typed = await owner(ADD, {"input": {"spaceId": space_id, "content": {"heading": bad}}})
    untyped = await owner(ADD, {"input": {"spaceId": space_id, "kind": "HEADING", "body": bad}})
    (typed_error,) = typed["data"]["blockAdd"]["userErrors"]
    (untyped_error,) = untyped["data"]["blockAdd"]["userErrors"]
    assert typed_error["code"] == untyped_error["code"] == "INVALID_BODY"
    assert typed_error["message"] == untyped_error["message"]
    assert typed_error["field"] == ["content", "heading", "level"]
    assert untyped_error["field"] == ["body", "level"]


REFUSED = [
    # both forms at once, or neither
    (
        {"content": {"heading": {"text": "a"}}, "kind": "HEADING", "body": {"text": "a"}},
        ("CONTENT_CONFLICT", ["content"]),
    ),
    ({}, ("CONTENT_REQUIRED", ["content"])),
    ({"kind": "HEADING"}, ("CONTENT_REQUIRED", ["content"])),
    # a kind that contradicts the content; a body without its kind
    ({"kind": "LINK", "content": {"heading": {"text": "a"}}}, ("CONTENT_CONFLICT", ["kind"])),
    ({"body": {"text": "a"}}, ("UNKNOWN_KIND", ["kind"])),
    # the rule's limits, for typed content too
    (
        {"content": {"link": {"url": "ftp://e.org"}}},
        ("INVALID_BODY", ["content", "link", "url"]),
    ),
    (
        {"content": {"checklist": {"items": []}}},
        ("INVALID_BODY", ["content", "checklist", "items"]),
    ),
]


@pytest.mark.parametrize(("given", "refusal"), REFUSED)
async def test_add_refusals_are_user_errors_and_write_nothing(
    api, new_tenant, owner_url, given, refusal
):
    owner, space_id = await _owner_and_space(api, new_tenant, owner_url)
    result = await owner(ADD, {"input": {"spaceId": space_id, **given}})
    payload = result["data"]["blockAdd"]
    assert payload["block"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [refusal]
    assert payload["userErrors"][0]["message"].endswith(".")
    count = "query($id: ID!) { space(id: $id) { blocks { totalCount } } }"
    assert (await owner(count, {"id": space_id}))["data"]["space"]["blocks"]["totalCount"] == 0


SCHEMA_REFUSED = [
    {"heading": {"text": "a"}, "link": {"url": "https://e.org"}},  # two kinds
    {},  # no kind
    {"heading": None},  # a null kind
    {"heading": {"text": "a", "colour": "red"}},  # an unknown field
    {"heading": {"text": "a", "level": "two"}},  # a wrong type
    {"heading": {"level": 2}},  # a missing field
    {"paragraph": {"text": "a"}},  # an unknown kind
]


@pytest.mark.parametrize("content", SCHEMA_REFUSED)
async def test_the_schema_refuses_malformed_content(api, new_tenant, owner_url, content):
    owner, space_id = await _owner_and_space(api, new_tenant, owner_url)
    response = await owner.post(ADD, {"input": {"spaceId": space_id, "content": content}})
    body = response.json()
    assert body.get("data") is None, body
    assert set(error_codes(body)) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, body
    assert error_codes(body), body


BLOCK_ID = "{ spaces { edges { node { blocks { edges { node { id kind body } } } } } } }"


async def _one_block(api, new_tenant, owner_url):
    tenant = await new_tenant()
    await make_space(owner_url, tenant.tenant_id, blocks=1)
    owner = api(tenant.token)
    spaces = (await owner(BLOCK_ID))["data"]["spaces"]["edges"]
    return owner, spaces[0]["node"]["blocks"]["edges"][0]["node"]


async def test_update_refusals_write_nothing(api, new_tenant, owner_url):
    owner, block = await _one_block(api, new_tenant, owner_url)
    other = "link" if block["kind"] != "LINK" else "heading"
    other_content = {"link": {"url": "https://e.org"}, "heading": {"text": "x"}}[other]
    cases = [
        ({"content": {other: other_content}}, "CONTENT_CONFLICT"),
        ({}, "CONTENT_REQUIRED"),
    ]
    for given, code in cases:
        result = await owner(UPDATE, {"input": {"id": block["id"], **given}})
        errors = result["data"]["blockUpdate"]["userErrors"]
        assert [e["code"] for e in errors] == [code], (given, result)
    # the message of a content of the wrong kind names the block's kind
    result = await owner(UPDATE, {"input": {"id": block["id"], "content": {other: other_content}}})
    message = result["data"]["blockUpdate"]["userErrors"][0]["message"]
    assert block["kind"].lower().replace("_", " ") in message
    assert (await owner(BODY_OF, {"id": block["id"]}))["data"]["block"]["body"] == block["body"]


async def test_an_update_with_both_forms_is_refused_on_every_path(api, new_tenant, owner_url):
    owner, block = await _one_block(api, new_tenant, owner_url)
    given = {"id": block["id"], "content": {"heading": {"text": "x"}}, "body": {"text": "y"}}
    # twice: the second time the document is known, and the fast lane may answer it
    for attempt in range(2):
        result = await owner(UPDATE, {"input": given})
        errors = result["data"]["blockUpdate"]["userErrors"]
        assert [e["code"] for e in errors] == ["CONTENT_CONFLICT"], (attempt, result)
    assert (await owner(BODY_OF, {"id": block["id"]}))["data"]["block"]["body"] == block["body"]


async def test_an_update_of_a_missing_block_is_not_found(api, new_tenant, owner_url):
    owner, block = await _one_block(api, new_tenant, owner_url)
    await owner(
        "mutation($id: ID!) { blockRemove(id: $id) { deletedBlockId } }", {"id": block["id"]}
    )
    given = {"id": block["id"], "content": {"heading": {"text": "x"}}}
    assert error_codes(await owner(UPDATE, {"input": given})) == ["NOT_FOUND"]


INPUT_FIELDS = """query($name: String!) { __type(name: $name) {
  inputFields(includeDeprecated: true) { name isDeprecated deprecationReason } } }"""


@pytest.mark.parametrize("input_type", ["BlockAddInput", "BlockUpdateInput"])
async def test_the_json_body_is_deprecated_for_content(api, new_tenant, input_type):
    tenant = await new_tenant()
    result = await api(tenant.token)(INPUT_FIELDS, {"name": input_type})
    fields = {f["name"]: f for f in result["data"]["__type"]["inputFields"]}
    assert fields["body"]["isDeprecated"] is True
    assert "content" in fields["body"]["deprecationReason"]
    assert fields["content"]["isDeprecated"] is False
