"""Tenant isolation through HTTP.

Invariants:
- every query and mutation that takes a space or block ID answers NOT_FOUND for an ID of
  another tenant, with exactly the response a random ID gets;
- such a request changes nothing in the other tenant;
- lists never include another tenant's rows;
- the same holds for a partner key issued through `apiKeyCreate` (as an integration calls),
  for a widget key bound to the tenant's published spaces, and for a visitor session opened
  from an invitation link, and for a preview link of a draft (each sending trusted documents
  by hash, as the widget does);
  their writes are FORBIDDEN whatever the ID;
- another tenant's API key or webhook subscription ID answers exactly as a random one.
"""

from __future__ import annotations

import uuid

import pytest

from core.ids import encode_id
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_space, make_spaces, mint_key, publish
from tests.widgets import PersistedApi, open_visitor

# every test here runs on both read paths (compiled SQL and resolvers)
pytestmark = pytest.mark.usefixtures("read_path")

SPACE_OPS = {
    "space": "query($id: ID!) { space(id: $id) { id title } }",
    "node": "query($id: ID!) { node(id: $id) { id } }",
    "spaceUpdate": 'mutation($id: ID!) { spaceUpdate(input: {id: $id, title: "Hijacked"}) { space { id } userErrors { code } } }',
    "spacePublish": "mutation($id: ID!) { spacePublish(id: $id) { space { id } userErrors { code } } }",
    "spaceUnpublish": "mutation($id: ID!) { spaceUnpublish(id: $id) { space { id } userErrors { code } } }",
    "spaceRestore": 'mutation($id: ID!) { spaceRestore(id: $id, revisionId: "U3BhY2VSZXZpc2lvbjowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA") { space { id } userErrors { code } } }',
    "spaceArchive": "mutation($id: ID!) { spaceArchive(id: $id) { space { id } userErrors { code } } }",
    "spaceUnarchive": "mutation($id: ID!) { spaceUnarchive(id: $id) { space { id } userErrors { code } } }",
    "spaceDelete": "mutation($id: ID!) { spaceDelete(id: $id) { deletedSpaceId userErrors { code } } }",
    "blockAdd": 'mutation($id: ID!) { blockAdd(input: {spaceId: $id, kind: HEADING, body: {text: "x"}}) { block { id } userErrors { code } } }',
}
BLOCK_OPS = {
    "block": "query($id: ID!) { block(id: $id) { id body } }",
    "node": "query($id: ID!) { node(id: $id) { id } }",
    "blockUpdate": 'mutation($id: ID!) { blockUpdate(input: {id: $id, body: {text: "Hijacked"}}) { block { id } userErrors { code } } }',
    "blockMove": "mutation($id: ID!) { blockMove(input: {id: $id, position: 0}) { block { id } userErrors { code } } }",
    "blockRemove": "mutation($id: ID!) { blockRemove(id: $id) { deletedBlockId userErrors { code } } }",
    "blockInLocale": 'query($id: ID!) { block(id: $id, locale: "de-AT") { id locale body } }',
    "blockLocaleBodySet": 'mutation($id: ID!) { blockLocaleBodySet(input: {id: $id, locale: "de", content: {heading: {text: "Entführt"}}}) { block { id } userErrors { code } } }',
    "blockLocaleBodyClear": 'mutation($id: ID!) { blockLocaleBodyClear(input: {id: $id, locale: "de"}) { block { id } userErrors { code } } }',
}
# a member's history reads (a widget or visitor may not read history: FORBIDDEN)
HISTORY_OPS = {
    "spaceRevisionDiff": "query($id: ID!) { spaceRevisionDiff(spaceId: $id, from: 1) { fields } }",
}
# another tenant's revision, by its ID
REVISION_OPS = {
    "node": "query($id: ID!) { node(id: $id) { id } }",
    "spaceRestore": "mutation($id: ID!, $own: ID!) { spaceRestore(id: $own, revisionId: $id) { space { id } userErrors { code } } }",
}
# in German (every tenant B below has it): a body written in another locale shows
SNAPSHOT = """{ spaces(first: 100) { edges { node { id title status
    blocks(first: 100, locale: "de") { edges { node { id position locale body } } }
    revisions(first: 100) { edges { node { id number title } } } } } } }"""
REVISIONS = "query($id: ID!) { space(id: $id) { revisions { edges { node { id } } } } }"
LOCALES = """mutation { contentLocalesUpdate(input: {locales: ["en", "de"], defaultLocale: "en"}) {
    userErrors { code } } }"""


def _strip(result: dict) -> dict:
    """The response without what legitimately differs between two requests."""
    return {
        "data": result.get("data"),
        "errors": [
            {k: v for k, v in e.items() if k != "locations"} for e in result.get("errors", [])
        ],
    }


# a partner key's scopes: everything the operations above need but deleting a space
KEY_SCOPES = ["spaces:write"]
CALLERS = ("owner", "partner key")


async def _caller(api, tenant, caller: str) -> str:
    """Tenant A's owner token, or a partner key its owner issued through apiKeyCreate."""
    if caller == "owner":
        return tenant.token
    return await mint_key(api(tenant.token), "partner", KEY_SCOPES)


@pytest.mark.big_queries
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("kind", "op"),
    [("space", k) for k in SPACE_OPS | HISTORY_OPS]
    + [("block", k) for k in BLOCK_OPS]
    + [("revision", k) for k in REVISION_OPS],
)
async def test_foreign_id_is_indistinguishable_from_random(
    api, new_tenant, owner_url, kind, op, caller
):
    # given a tenant B with a published space and blocks, and an owner (or a key) of tenant A
    a, b = await new_tenant("A"), await new_tenant("B")
    a_token = await _caller(api, a, caller)
    await api(a.token)(LOCALES)
    await api(b.token)(LOCALES)
    space_id, block_ids = await make_space(owner_url, b.tenant_id, blocks=2)
    await publish(owner_url, b.tenant_id, space_id)
    revision = (await api(b.token)(REVISIONS, {"id": space_id}))["data"]["space"]["revisions"]
    foreign = {"space": space_id, "block": block_ids[0], "revision": revision["edges"][0]}
    foreign["revision"] = foreign["revision"]["node"]["id"]
    type_name = {"space": "Space", "block": "Block", "revision": "SpaceRevision"}[kind]
    random_id = encode_id(type_name, uuid.uuid4())
    query = (
        SPACE_OPS | HISTORY_OPS
        if kind == "space"
        else BLOCK_OPS
        if kind == "block"
        else REVISION_OPS
    )[op]
    own_space, _ = await make_space(owner_url, a.tenant_id, blocks=1)
    before = await api(b.token)(SNAPSHOT)

    # when A uses B's ID, and a random ID
    on_foreign = await api(a_token)(query, {"id": foreign[kind], **_own(query, own_space)})
    on_random = await api(a_token)(query, {"id": random_id, **_own(query, own_space)})

    # then both answers are the same NOT_FOUND (FORBIDDEN where the key's scopes stop
    # first: a delete), and B is untouched
    refused = "FORBIDDEN" if (caller, op) == ("partner key", "spaceDelete") else "NOT_FOUND"
    assert error_codes(on_foreign) == [refused]
    assert _strip(on_foreign) == _strip(on_random)
    assert await api(b.token)(SNAPSHOT) == before


def _own(query: str, own_space: str) -> dict:
    return {"own": own_space} if "$own" in query else {}


@pytest.mark.big_queries
@pytest.mark.parametrize("caller", CALLERS)
async def test_lists_hold_only_own_tenant(api, new_tenant, owner_url, caller):
    a, b = await new_tenant("A"), await new_tenant("B")
    await make_space(owner_url, a.tenant_id, blocks=1)
    b_space, _ = await make_space(owner_url, b.tenant_id, blocks=1)
    result = await api(await _caller(api, a, caller))(SNAPSHOT)
    ids = [e["node"]["id"] for e in result["data"]["spaces"]["edges"]]
    assert len(ids) == 1 and b_space not in ids


async def test_block_of_own_space_cannot_reference_foreign_space(api, new_tenant, owner_url):
    """blockAdd with a foreign space ID writes nothing anywhere."""
    a, b = await new_tenant("A"), await new_tenant("B")
    b_space, _ = await make_space(owner_url, b.tenant_id)
    result = await api(a.token)(SPACE_OPS["blockAdd"], {"id": b_space})
    assert error_codes(result) == ["NOT_FOUND"]
    count = await api(b.token)(
        "query($id: ID!) { space(id: $id) { blocks { totalCount } } }", {"id": b_space}
    )
    assert count["data"]["space"]["blocks"]["totalCount"] == 0


BROWSER_CALLERS = ("widget key", "visitor session", "preview link")
PREVIEW = """mutation($input: PreviewLinkCreateInput!) {
  previewLinkCreate(input: $input) { secret userErrors { code } } }"""
READS = {"space", "node", "block", "blockInLocale"}


async def _browser_caller(api, client, settings, owner_url, tenant, caller: str) -> PersistedApi:
    """A widget key bound to a published space of `tenant`, the visitor session of a
    contact that space is shared with, or a preview link of a draft."""
    status = "draft" if caller == "preview link" else "published"
    space = (await make_spaces(owner_url, tenant.tenant_id, 1, blocks_each=1, status=status))[0]
    owner = api(tenant.token)
    if caller == "preview link":
        made = await owner(PREVIEW, {"input": {"spaceId": encode_id("Space", space)}})
        return PersistedApi(client, made["data"]["previewLinkCreate"]["secret"], owner)
    if caller == "widget key":
        gid = encode_id("Space", space)
        key = await mint_key(owner, "widget", [], spaceIds=[gid], allowedOrigins=[])
        return PersistedApi(client, key, owner)
    contact = (await make_contacts(owner_url, tenant.tenant_id, 1))[0]
    await make_access(owner_url, tenant.tenant_id, space, [contact])
    session = await open_visitor(client, settings.secret(), tenant.tenant_id, space, contact)
    return PersistedApi(client, session["visitorToken"], owner)


@pytest.mark.big_queries
@pytest.mark.parametrize("caller", BROWSER_CALLERS)
@pytest.mark.parametrize(
    ("kind", "op"),
    [("space", k) for k in SPACE_OPS | HISTORY_OPS] + [("block", k) for k in BLOCK_OPS],
)
async def test_foreign_id_is_random_for_widgets_and_visitors(
    api, client, settings, new_tenant, owner_url, kind, op, caller
):
    # given a tenant B with published content, and a widget key (or visitor) of tenant A
    a, b = await new_tenant("A"), await new_tenant("B")
    a_caller = await _browser_caller(api, client, settings, owner_url, a, caller)
    await api(b.token)(LOCALES)
    b_space = (await make_spaces(owner_url, b.tenant_id, 1, blocks_each=2, status="published"))[0]
    blocks = await api(b.token)(SNAPSHOT)
    b_block = blocks["data"]["spaces"]["edges"][0]["node"]["blocks"]["edges"][0]["node"]["id"]
    foreign = encode_id("Space", b_space) if kind == "space" else b_block
    random_id = encode_id("Space" if kind == "space" else "Block", uuid.uuid4())
    query = (SPACE_OPS | HISTORY_OPS if kind == "space" else BLOCK_OPS)[op]
    before = await api(b.token)(SNAPSHOT)

    on_foreign = await a_caller(query, {"id": foreign})
    on_random = await a_caller(query, {"id": random_id})

    assert error_codes(on_foreign) == ["NOT_FOUND" if op in READS else "FORBIDDEN"]
    assert _strip(on_foreign) == _strip(on_random)
    assert await api(b.token)(SNAPSHOT) == before


@pytest.mark.big_queries
@pytest.mark.parametrize("caller", BROWSER_CALLERS)
async def test_widget_and_visitor_lists_hold_only_their_spaces(
    api, client, settings, new_tenant, owner_url, caller
):
    a, b = await new_tenant("A"), await new_tenant("B")
    a_caller = await _browser_caller(api, client, settings, owner_url, a, caller)
    await make_spaces(owner_url, a.tenant_id, 2, status="published")  # not bound, not shared
    await make_spaces(owner_url, b.tenant_id, 2, status="published")
    result = await a_caller(SNAPSHOT)
    assert len(result["data"]["spaces"]["edges"]) == 1


PARTNER_OPS = {
    "apiKey": ("key", "query($id: ID!) { apiKey(id: $id) { id name } }"),
    "node(ApiKey)": ("key", "query($id: ID!) { node(id: $id) { id } }"),
    "apiKeyRotate": (
        "key",
        "mutation($id: ID!) { apiKeyRotate(input: {id: $id}) { secret userErrors { code } } }",
    ),
    "apiKeyRevoke": (
        "key",
        "mutation($id: ID!) { apiKeyRevoke(id: $id) { apiKey { id } userErrors { code } } }",
    ),
    "webhookSubscription": ("sub", "query($id: ID!) { webhookSubscription(id: $id) { id url } }"),
    "webhookSubscriptionDelete": (
        "sub",
        "mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedSubscriptionId userErrors { code } } }",
    ),
    "webhookDeliveries": (
        "sub",
        "query($id: ID!) { webhookDeliveries(subscriptionId: $id) { totalCount } }",
    ),
    "webhookSubscriptionCreate": (
        "key",
        'mutation($id: ID!) { webhookSubscriptionCreate(input: {url: "https://h.example.com/x", eventTypes: ["space.created"], apiKeyId: $id}) { subscription { id } userErrors { code } } }',
    ),
}


@pytest.mark.parametrize("op", list(PARTNER_OPS))
async def test_foreign_key_or_subscription_is_indistinguishable_from_random(api, new_tenant, op):
    # given tenant B's key and subscription, and tenant A's owner
    a, b = await new_tenant("A"), await new_tenant("B")
    b_secret = await mint_key(api(b.token), "partner", ["spaces:read"])
    b_key = (await api(b.token)("{ apiKeys { edges { node { id } } } }"))["data"]["apiKeys"]
    key_id = b_key["edges"][0]["node"]["id"]
    sub = await api(b.token)(PARTNER_OPS["webhookSubscriptionCreate"][1], {"id": key_id})
    ids = {"key": key_id, "sub": sub["data"]["webhookSubscriptionCreate"]["subscription"]["id"]}
    kind, query = PARTNER_OPS[op]
    type_name = "ApiKey" if kind == "key" else "WebhookSubscription"

    # when A uses B's ID, and a random one
    on_foreign = await api(a.token)(query, {"id": ids[kind]})
    on_random = await api(a.token)(query, {"id": encode_id(type_name, uuid.uuid4())})

    # then both are the same NOT_FOUND, and B's key and subscription are untouched
    assert error_codes(on_foreign) == ["NOT_FOUND"]
    assert _strip(on_foreign) == _strip(on_random)
    assert "errors" not in await api(b_secret)("{ spaces { totalCount } }")
    still = await api(b.token)(
        "query($id: ID!) { webhookSubscription(id: $id) { id } }", {"id": ids["sub"]}
    )
    assert still["data"]["webhookSubscription"]["id"] == ids["sub"]
