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
from models import ApiToken, Role
from policies.authz import load_enforcer
from schema.build import build_schema
from schema.permissions import Authenticated, Can
from tests.conftest import error_codes
from tests.factories import make_space

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


def _call(name: str, space_id: str, block_id: str) -> tuple[str, dict]:
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
        "spaceArchive": (
            "mutation($s: ID!) { spaceArchive(id: $s) { userErrors { code } } }",
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
        "blockRemove": (
            "mutation($b: ID!) { blockRemove(id: $b) { userErrors { code } } }",
            {"b": block_id},
        ),
    }
    return calls[name]


# every mutation on spaces and blocks, for every role (other domains have their own matrix)
MATRIX = [
    (role.value, *m) for role in Role for m in guarded_mutations() if m[1] in {"Space", "Block"}
]


@pytest.mark.parametrize(("role", "mutation", "obj", "act"), MATRIX)
async def test_mutation_matrix(api, new_tenant, new_member, owner_url, role, mutation, obj, act):
    tenant = await new_tenant()
    member = await new_member(tenant.tenant_id, role)
    space_id, block_ids = await make_space(owner_url, tenant.tenant_id, blocks=2)
    query, variables = _call(mutation, space_id, block_ids[0])

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
