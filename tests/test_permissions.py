"""Authorization through HTTP, generated from the schema and the policy files.

Invariants:
- every root field carries `Can(obj, act)` (or `Authenticated()` for the few listed below);
- for every member role and every root field, the request is FORBIDDEN exactly when the
  default policy denies (role, obj, act), and never otherwise;
- no token, a malformed token, an unknown token and a revoked token are UNAUTHENTICATED.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from core.auth import hash_token
from core.db import owner_db
from core.ids import encode_id
from models import ApiToken, Role
from policies.authz import load_enforcer, partner_scopes
from schema.build import build_schema
from schema.permissions import Authenticated, Can
from tests.conftest import error_codes
from tests.factories import make_space, mint_key, publish

# Root fields open to any authenticated principal; each scopes what it returns itself.
AUTHENTICATED_ONLY = {
    "viewer",  # the caller's own identity
    "node",  # applies the read check of the type its ID names
    "nodes",  # node() for each ID
}

SCHEMA = build_schema()
ENFORCER = load_enforcer()


def root_fields() -> list[tuple[str, str, object]]:
    fields = []
    for root in ("Query", "Mutation"):
        definition = SCHEMA.schema_converter.type_map[root].definition
        for field in definition.fields:
            fields.append((root, SCHEMA.config.name_converter.get_graphql_name(field), field))
    return fields


def test_every_root_field_is_guarded():
    unguarded = []
    for root, name, field in root_fields():
        guards = [e for e in field.extensions if isinstance(e, Can)]
        if not guards:
            unguarded.append(f"{root}.{name}")
        elif any(isinstance(g, Authenticated) for g in guards) and name not in AUTHENTICATED_ONLY:
            unguarded.append(f"{root}.{name} (authenticated only)")
    assert unguarded == []


def guarded_mutations() -> list[tuple[str, str, str]]:
    out = []
    for root, name, field in root_fields():
        for ext in field.extensions:
            if root == "Mutation" and isinstance(ext, Can) and not isinstance(ext, Authenticated):
                out.append((name, ext.obj, ext.act))
    return out


def _call(name: str, space_id: str, block_id: str, revision_id: str = "") -> tuple[str, dict]:
    calls = {
        "spaceCreate": (
            'mutation { spaceCreate(input: {title: "T"}) { userErrors { code } } }',
            {},
        ),
        "spaceUpdate": (
            'mutation($s: ID!) { spaceUpdate(input: {id: $s, title: "U"}) { userErrors { code } } }',
            {"s": space_id},
        ),
        "spacePublish": (
            "mutation($s: ID!) { spacePublish(id: $s) { userErrors { code } } }",
            {"s": space_id},
        ),
        "spaceUnpublish": (
            "mutation($s: ID!) { spaceUnpublish(id: $s) { userErrors { code } } }",
            {"s": space_id},
        ),
        "spaceRestore": (
            "mutation($s: ID!, $r: ID!) { spaceRestore(id: $s, revisionId: $r) { userErrors { code } } }",
            {"s": space_id, "r": revision_id},
        ),
        "spaceSchedule": (
            (
                "mutation($s: ID!) { spaceSchedule(input: "
                '{spaceId: $s, publishAt: "2999-01-01T00:00:00Z"}) { userErrors { code } } }'
            ),
            {"s": space_id},
        ),
        "spaceArchive": (
            "mutation($s: ID!) { spaceArchive(id: $s) { userErrors { code } } }",
            {"s": space_id},
        ),
        "spaceUnarchive": (
            "mutation($s: ID!) { spaceUnarchive(id: $s) { userErrors { code } } }",
            {"s": space_id},
        ),
        "spacePersonalise": (
            (
                "mutation($s: ID!) { spacePersonalise(input: {templateId: $s, contactIds: []}) "
                "{ userErrors { code } } }"
            ),
            {"s": space_id},
        ),
        "spaceDelete": (
            "mutation($s: ID!) { spaceDelete(id: $s) { userErrors { code } } }",
            {"s": space_id},
        ),
        "blockAdd": (
            'mutation($s: ID!) { blockAdd(input: {spaceId: $s, kind: HEADING, body: {text: "h"}}) { userErrors { code } } }',
            {"s": space_id},
        ),
        "blockUpdate": (
            'mutation($b: ID!) { blockUpdate(input: {id: $b, body: {text: "h2"}}) { userErrors { code } } }',
            {"b": block_id},
        ),
        "blockMove": (
            "mutation($b: ID!) { blockMove(input: {id: $b, position: 0}) { userErrors { code } } }",
            {"b": block_id},
        ),
        "blockLocaleBodySet": (
            'mutation($b: ID!) { blockLocaleBodySet(input: {id: $b, locale: "en", content: {heading: {text: "h3"}}}) { userErrors { code } } }',
            {"b": block_id},
        ),
        "blockLocaleBodyClear": (
            'mutation($b: ID!) { blockLocaleBodyClear(input: {id: $b, locale: "de"}) { userErrors { code } } }',
            {"b": block_id},
        ),
        "blockRemove": (
            "mutation($b: ID!) { blockRemove(id: $b) { userErrors { code } } }",
            {"b": block_id},
        ),
    }
    return calls[name]


REVISIONS = "query($s: ID!) { space(id: $s) { revisions { edges { node { id } } } } }"

# every mutation on spaces and blocks, for every role (other domains have their own matrix)
MATRIX = [
    (role.value, *m) for role in Role for m in guarded_mutations() if m[1] in {"Space", "Block"}
]


@pytest.mark.parametrize(("role", "mutation", "obj", "act"), MATRIX)
async def test_mutation_matrix(api, new_tenant, new_member, owner_url, role, mutation, obj, act):
    tenant = await new_tenant()
    member = await new_member(tenant.tenant_id, role)
    space_id, block_ids = await make_space(owner_url, tenant.tenant_id, blocks=2)
    await publish(owner_url, tenant.tenant_id, space_id)  # a revision to restore, to withdraw
    revisions = await api(tenant.token)(REVISIONS, {"s": space_id})
    revision_id = revisions["data"]["space"]["revisions"]["edges"][0]["node"]["id"]
    query, variables = _call(mutation, space_id, block_ids[0], revision_id)

    result = await api(member.token)(query, variables)

    allowed = ENFORCER.enforce(role, str(tenant.tenant_id), obj, act)
    if allowed:
        assert error_codes(result) == [], result
    else:
        assert error_codes(result) == ["FORBIDDEN"], result
        assert result["data"] is None


def test_policy_facts_the_matrix_relies_on():
    """The issue's examples hold in the default policy (so the matrix checks them)."""
    assert not ENFORCER.enforce("viewer", "t", "Space", "update")
    assert not ENFORCER.enforce("viewer", "t", "Block", "create")
    assert not ENFORCER.enforce("editor", "t", "Space", "delete")
    assert ENFORCER.enforce("editor", "t", "Space", "update")


async def test_viewer_reads_but_changes_nothing(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    viewer = await new_member(tenant.tenant_id, "viewer")
    space_id, block_ids = await make_space(owner_url, tenant.tenant_id, blocks=1)
    for name in ("spaceUpdate", "spaceDelete", "blockRemove"):
        query, variables = _call(name, space_id, block_ids[0])
        assert error_codes(await api(viewer.token)(query, variables)) == ["FORBIDDEN"]
    result = await api(viewer.token)(
        "query($s: ID!) { space(id: $s) { title blocks { totalCount } } }", {"s": space_id}
    )
    assert result["data"]["space"] == {"title": "Space 0", "blocks": {"totalCount": 1}}


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Basic abc", "Bearer not-a-token", "Bearer " + "x" * 500]
)
async def test_missing_or_bad_token_is_unauthenticated(client, header):
    headers = {"Authorization": header} if header else {}
    response = await client.post(
        "/graphql", json={"query": "{ spaces { totalCount } }"}, headers=headers
    )
    assert response.status_code == 200
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert response.json()["data"] is None


async def test_revoked_token_is_unauthenticated(api, new_tenant, owner_url):
    tenant = await new_tenant()
    assert error_codes(await api(tenant.token)("{ spaces { totalCount } }")) == []
    async with owner_db(owner_url, tenant.tenant_id) as db:
        await db.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(tenant.token))
            .values(revoked_at=ApiToken.created_at)
        )
    result = await api(tenant.token)("{ spaces { totalCount } }")
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert "revoked" in result["errors"][0]["message"]


async def test_unknown_token_of_right_shape_is_unauthenticated(api):
    result = await api("msm_" + uuid.uuid4().hex)(
        'mutation { spaceCreate(input: {title: "x"}) { space { id } } }'
    )
    assert error_codes(result) == ["UNAUTHENTICATED"]


# API keys and webhooks, for every role and every partner scope
PARTNER_CALLS = {
    "apiKeyCreate": 'mutation { apiKeyCreate(input: {kind: PARTNER, name: "n", scopes: ["spaces:read"]}) { userErrors { code } } }',
    "apiKeyRotate": "mutation($k: ID!) { apiKeyRotate(input: {id: $k}) { userErrors { code } } }",
    "apiKeyRevoke": "mutation($k: ID!) { apiKeyRevoke(id: $k) { userErrors { code } } }",
    "webhookSubscriptionCreate": 'mutation($k: ID!) { webhookSubscriptionCreate(input: {url: "https://h.example.com/x", eventTypes: ["space.created"], apiKeyId: $k}) { userErrors { code } } }',
    "webhookSubscriptionDelete": "mutation($w: ID!) { webhookSubscriptionDelete(id: $w) { userErrors { code } } }",
    "webhookDeliveryRetry": "mutation($d: ID!) { webhookDeliveryRetry(id: $d) { userErrors { code } } }",
    "webhookSubscriptionRotateSecret": "mutation($w: ID!) { webhookSubscriptionRotateSecret(input: {id: $w}) { userErrors { code } } }",
}
PARTNER_SCOPES = partner_scopes()
PARTNER_MATRIX = [
    (kind, subject, *m)
    for kind, subjects in (("member", [r.value for r in Role]), ("partner", PARTNER_SCOPES))
    for subject in subjects
    for m in guarded_mutations()
    if m[1] in {"ApiKey", "WebhookSubscription"}
]


@pytest.mark.parametrize(("kind", "subject", "mutation", "obj", "act"), PARTNER_MATRIX)
async def test_key_and_webhook_matrix(
    api, new_tenant, new_member, kind, subject, mutation, obj, act
):
    tenant = await new_tenant()
    owner = api(tenant.token)
    # the subject's own key (a partner key subscribes for itself: its own ID is the one given)
    caller = (
        (await new_member(tenant.tenant_id, subject)).token
        if kind == "member"
        else await mint_key(owner, "partner", [subject])
    )
    await mint_key(owner, "partner", ["spaces:read"])
    keys = (await owner("{ apiKeys { edges { node { id } } } }"))["data"]["apiKeys"]["edges"]
    # newest first: the reader key, then (for a partner caller) the caller's own key
    reader, own = keys[0]["node"]["id"], keys[-1]["node"]["id"]
    sub = await owner(
        PARTNER_CALLS["webhookSubscriptionCreate"].replace(
            "userErrors { code }", "subscription { id } userErrors { code }"
        ),
        {"k": reader},
    )
    sub_id = sub["data"]["webhookSubscriptionCreate"]["subscription"]["id"]
    variables = {
        "k": own if kind == "partner" else reader,
        "w": sub_id,
        "d": encode_id("WebhookDelivery", uuid.uuid4()),
    }
    query = PARTNER_CALLS[mutation]
    used = {v: variables[v] for v in ("k", "w", "d") if f"${v}" in query}

    result = await api(caller)(query, used)

    if ENFORCER.enforce(subject, str(tenant.tenant_id), obj, act):
        # allowed: but the delivery ID is random, and a key manages its own subscriptions only
        unknown = mutation == "webhookDeliveryRetry" or (
            kind == "partner"
            and mutation in ("webhookSubscriptionDelete", "webhookSubscriptionRotateSecret")
        )
        assert error_codes(result) == (["NOT_FOUND"] if unknown else []), result
    else:
        assert error_codes(result) == ["FORBIDDEN"], result
        assert result["data"] is None
