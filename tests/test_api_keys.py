"""API keys through GraphQL and the CLI.

Invariants:
- owners and admins create, list, rotate and revoke partner and widget keys; nobody else can;
- a secret appears once, in the payload that created (or rotated) it, and never in a list;
- a revoked or expired key, or a rotated-out secret, fails on its next request, in every
  process, with a clear UNAUTHENTICATED reason; a rotated secret works through its overlap;
- bad input (unknown scope, scopes on a widget, origins that are not exact, a past expiry)
  is a typed user error and writes nothing;
- every change is audited and writes its domain event;
- a key states what it can read, by type and personal-data category, as the policy decides.

Over 300 lines on purpose: one module per promise, with its matrix and its cases together.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from core.db import owner_db
from microspace.app import create_app
from policies.authz import partner_scopes
from tests.conftest import error_codes
from tests.factories import make_space, mint_key
from tests.query_count import count_statements
from tests.test_cli import run_cli, run_cli_process

CREATE = """mutation($input: ApiKeyCreateInput!) { apiKeyCreate(input: $input) {
  apiKey { id kind name scopes hint status expiresAt spaceIds allowedOrigins }
  secret userErrors { code field message } } }"""
ROTATE = """mutation($id: ID!, $s: Int!) { apiKeyRotate(input: {id: $id, overlapSeconds: $s}) {
  apiKey { id rotatedAt previousSecretExpiresAt hint } secret userErrors { code field } } }"""
REVOKE = "mutation($id: ID!) { apiKeyRevoke(id: $id) { apiKey { id status revokedAt } userErrors { code } } }"
LIST = "{ apiKeys { totalCount edges { node { id name kind scopes hint status } } } }"
REACH = """query($id: ID!) { apiKey(id: $id) { reach { type actions categories
  fields { field category access } } } }"""
PROBE = "{ spaces { totalCount } }"


def _input(**fields):
    return {"input": {"kind": "PARTNER", "name": "Zap", "scopes": ["spaces:read"], **fields}}


async def _create(owner, **fields) -> dict:
    return (await owner(CREATE, _input(**fields)))["data"]["apiKeyCreate"]


async def test_create_list_rotate_revoke(api, new_tenant):
    # given an owner
    tenant = await new_tenant()
    owner = api(tenant.token)

    # when a partner key is created
    created = await _create(owner)
    key, secret = created["apiKey"], created["secret"]
    assert created["userErrors"] == [] and secret.startswith("msp_")
    assert key["status"] == "ACTIVE" and key["hint"] == secret[:8]

    # then it works, and the list shows it without its secret
    assert (await api(secret)(PROBE))["data"]["spaces"]["totalCount"] == 0
    listed = await owner(LIST)
    assert [e["node"]["id"] for e in listed["data"]["apiKeys"]["edges"]] == [key["id"]]
    assert secret not in json.dumps(listed) and secret[8:] not in json.dumps(listed)

    # when it is rotated with an overlap, both secrets work
    rotated = (await owner(ROTATE, {"id": key["id"], "s": 3600}))["data"]["apiKeyRotate"]
    new_secret = rotated["secret"]
    assert new_secret != secret and rotated["apiKey"]["previousSecretExpiresAt"]
    assert "errors" not in await api(secret)(PROBE)
    assert "errors" not in await api(new_secret)(PROBE)

    # when it is revoked, neither works, with a clear reason
    revoked = (await owner(REVOKE, {"id": key["id"]}))["data"]["apiKeyRevoke"]["apiKey"]
    assert revoked["status"] == "REVOKED" and revoked["revokedAt"]
    for s in (secret, new_secret):
        result = await api(s)(PROBE)
        assert error_codes(result) == ["UNAUTHENTICATED"]
        assert result["errors"][0]["extensions"]["reason"] == "KEY_REVOKED"
        assert "revoked" in result["errors"][0]["message"]


async def test_rotated_out_secret_and_expired_key_are_refused(api, new_tenant, owner_url):
    tenant = await new_tenant()
    owner = api(tenant.token)
    created = await _create(owner)
    old = created["secret"]
    rotated = (await owner(ROTATE, {"id": created["apiKey"]["id"], "s": 0}))["data"]["apiKeyRotate"]
    refused = await api(old)(PROBE)
    assert error_codes(refused) == ["UNAUTHENTICATED"]
    assert refused["errors"][0]["extensions"]["reason"] == "KEY_ROTATED"
    assert "errors" not in await api(rotated["secret"])(PROBE)

    # an expiry in the past (time moved on): the next request is refused as expired
    soon = await _create(owner, expiresAt=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert "errors" not in await api(soon["secret"])(PROBE)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        await db.execute(
            text(
                "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'partner'"
            )
        )
    expired = await api(soon["secret"])(PROBE)
    assert expired["errors"][0]["extensions"]["reason"] == "KEY_EXPIRED"
    listed = await owner(LIST)
    assert {e["node"]["status"] for e in listed["data"]["apiKeys"]["edges"]} == {"EXPIRED"}


async def test_revocation_reaches_every_process(api, new_tenant, settings):
    """Two application instances (two processes' worth of state): revoked through one, the
    key fails on its next request through the other, with no cache to wait out."""
    tenant = await new_tenant()
    secret = await mint_key(api(tenant.token), "partner", ["spaces:read"])
    other = create_app(replace(settings))
    try:
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as client:

            async def probe() -> dict:
                headers = {"Authorization": f"Bearer {secret}"}
                return (
                    await client.post("/graphql", json={"query": PROBE}, headers=headers)
                ).json()

            assert "errors" not in await probe()
            key_id = (await api(tenant.token)(LIST))["data"]["apiKeys"]["edges"][0]["node"]["id"]
            await api(tenant.token)(REVOKE, {"id": key_id})
            assert (await probe())["errors"][0]["extensions"]["reason"] == "KEY_REVOKED"
    finally:
        await other.state.microspace.engine.dispose()


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"scopes": ["spaces:read", "everything:write"]}, "UNKNOWN_SCOPE", ["scopes"]),
        ({"scopes": []}, "REQUIRED", ["scopes"]),
        ({"name": "  "}, "REQUIRED", ["name"]),
        ({"name": "x" * 201}, "TOO_LONG", ["name"]),
        ({"expiresAt": "2020-01-01T00:00:00Z"}, "INVALID_EXPIRY", ["expiresAt"]),
        ({"allowedOrigins": ["https://a.example"]}, "WIDGET_ONLY", ["allowedOrigins"]),
        ({"kind": "WIDGET"}, "SCOPES_NOT_ALLOWED", ["scopes"]),
        (
            {"kind": "WIDGET", "scopes": [], "allowedOrigins": ["https://a.example/"]},
            "INVALID_ORIGIN",
            ["allowedOrigins"],
        ),
        (
            {"kind": "WIDGET", "scopes": [], "allowedOrigins": ["a.example"]},
            "INVALID_ORIGIN",
            ["allowedOrigins"],
        ),
        (
            {"kind": "WIDGET", "scopes": [], "allowedOrigins": ["https://A.example"]},
            "INVALID_ORIGIN",
            ["allowedOrigins"],
        ),
        (
            {"kind": "WIDGET", "scopes": [], "allowedOrigins": ["https://u@a.example"]},
            "INVALID_ORIGIN",
            ["allowedOrigins"],
        ),
        (
            {"kind": "WIDGET", "scopes": [], "allowedOrigins": ["ftp://a.example"]},
            "INVALID_ORIGIN",
            ["allowedOrigins"],
        ),
    ],
)
async def test_bad_input_is_a_user_error(api, new_tenant, fields, code, field):
    tenant = await new_tenant()
    owner = api(tenant.token)
    payload = await _create(owner, **fields)
    assert payload["apiKey"] is None and payload["secret"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]][:1] == [(code, field)]
    assert payload["userErrors"][0]["message"]
    assert (await owner(LIST))["data"]["apiKeys"]["totalCount"] == 0


async def test_unknown_scope_names_the_known_ones(api, new_tenant):
    tenant = await new_tenant()
    payload = await _create(api(tenant.token), scopes=["contacts:everything"])
    message = payload["userErrors"][0]["message"]
    assert all(scope in message for scope in partner_scopes())


async def test_widget_key_with_spaces_and_origins(api, new_tenant, owner_url):
    tenant = await new_tenant()
    space_id, _ = await make_space(owner_url, tenant.tenant_id)
    origins = ["https://app.example.com", "http://localhost:3000"]
    payload = await _create(
        api(tenant.token), kind="WIDGET", scopes=[], spaceIds=[space_id], allowedOrigins=origins
    )
    assert payload["userErrors"] == [] and payload["secret"].startswith("msw_")
    assert payload["apiKey"]["spaceIds"] == [space_id]
    assert payload["apiKey"]["allowedOrigins"] == origins
    # a space of another tenant is unknown here
    other = await new_tenant()
    foreign, _ = await make_space(owner_url, other.tenant_id)
    refused = await _create(api(tenant.token), kind="WIDGET", scopes=[], spaceIds=[foreign])
    assert refused["userErrors"][0]["code"] == "UNKNOWN_SPACE"


@pytest.mark.parametrize("role", ["admin", "editor", "viewer", "privacy_officer"])
async def test_only_owners_and_admins_manage_keys(api, new_tenant, new_member, role):
    tenant = await new_tenant()
    member = api((await new_member(tenant.tenant_id, role)).token)
    result = await member(CREATE, _input())
    if role == "admin":
        assert result["data"]["apiKeyCreate"]["userErrors"] == []
        return
    assert error_codes(result) == ["FORBIDDEN"]
    assert error_codes(await member(LIST)) == ["FORBIDDEN"]
    # nor may a key issue keys
    key = await mint_key(api(tenant.token), "partner", partner_scopes())
    assert error_codes(await api(key)(CREATE, _input())) == ["FORBIDDEN"]


async def test_changes_are_audited_and_evented(api, new_tenant, owner_url):
    tenant = await new_tenant()
    owner = api(tenant.token)
    key_id = (await _create(owner))["apiKey"]["id"]
    await owner(ROTATE, {"id": key_id, "s": 60})
    await owner(REVOKE, {"id": key_id})
    async with owner_db(owner_url, tenant.tenant_id) as db:
        audited = (
            await db.execute(
                text("SELECT operation, fields FROM audit_log WHERE tenant_id = :t ORDER BY seq"),
                {"t": tenant.tenant_id},
            )
        ).all()
        topics = list(
            await db.scalars(
                text("SELECT topic FROM domain_events WHERE tenant_id = :t"),
                {"t": tenant.tenant_id},
            )
        )
    assert [(op, fields) for op, fields in audited] == [
        ("api_key_create", [key_id]),
        ("api_key_rotate", [key_id]),
        ("api_key_revoke", [key_id]),
    ]
    assert sorted(topics) == ["api_key.created", "api_key.revoked", "api_key.rotated"]


async def test_key_states_what_it_can_read(api, new_tenant):
    """Derived from the policy: contacts:read reads contacts masked, their consent in full
    gate, and nothing of spaces; spaces:read the reverse, with the asset library."""
    tenant = await new_tenant()
    owner = api(tenant.token)
    contacts_key = (await _create(owner, scopes=["contacts:read"]))["apiKey"]["id"]
    answer = await owner(REACH, {"id": contacts_key})
    assert "errors" not in answer, answer
    reach = {r["type"]: r for r in answer["data"]["apiKey"]["reach"]}
    contact = reach["Contact"]
    assert contact["actions"] == ["read"]
    assert {f["field"]: f["access"] for f in contact["fields"]}["email"] == "MASKED"
    assert "user.contact.email" in contact["categories"]
    assert "Space" not in reach and "SubjectRequest" not in reach
    # consent history rows are readable under Consent, their personal fields withheld
    assert reach["ConsentEvent"]["actions"] == ["read"]
    assert {f["access"] for f in reach["ConsentEvent"]["fields"]} == {"WITHHELD"}
    pii_key = (await _create(owner, scopes=["contacts:read_pii"]))["apiKey"]["id"]
    pii = {r["type"]: r for r in (await owner(REACH, {"id": pii_key}))["data"]["apiKey"]["reach"]}
    assert {f["access"] for f in pii["Contact"]["fields"]} == {"FULL"}
    spaces_key = (await _create(owner, scopes=["spaces:read"]))["apiKey"]["id"]
    spaces = {
        r["type"]: r for r in (await owner(REACH, {"id": spaces_key}))["data"]["apiKey"]["reach"]
    }
    assert set(spaces) == {"Asset", "Block", "ContentLocales", "Space", "SpaceRevision"}
    assert spaces["Space"]["categories"] == []


async def test_cli_twins(database_url, new_tenant, api):
    tenant = await new_tenant()
    t = str(tenant.tenant_id)
    # in a new interpreter: the key commands' smoke test as an operator runs them
    code, out, err = await run_cli_process(
        database_url,
        "key-create",
        "--tenant",
        t,
        "--kind",
        "partner",
        "--name",
        "Sync",
        "--scope",
        "contacts:read",
        "--scope",
        "spaces:read",
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["scopes"] == ["contacts:read", "spaces:read"] and created["status"] == "active"
    assert "errors" not in await api(created["secret"])(PROBE)

    code, out, err = await run_cli(database_url, "key-list", "--tenant", t)
    assert code == 0, err
    listed = json.loads(out)
    assert [k["id"] for k in listed] == [created["id"]] and "secret" not in listed[0]
    # the GraphQL list sees the CLI's key
    gql = await api(tenant.token)(LIST)
    assert [e["node"]["id"] for e in gql["data"]["apiKeys"]["edges"]] == [created["id"]]

    code, out, err = await run_cli(database_url, "key-revoke", "--tenant", t, "--id", created["id"])
    assert code == 0, err and json.loads(out)["status"] == "revoked"
    assert json.loads(out)["status"] == "revoked"
    refused = await api(created["secret"])(PROBE)
    assert refused["errors"][0]["extensions"]["reason"] == "KEY_REVOKED"


async def test_cli_bad_input_exits_2_with_one_line(database_url, new_tenant):
    tenant = await new_tenant()
    t = str(tenant.tenant_id)
    cases = [
        ("key-create", "--tenant", t, "--kind", "partner", "--name", "X", "--scope", "nope:read"),
        ("key-create", "--tenant", t, "--kind", "robot", "--name", "X"),
        (
            "key-create",
            "--tenant",
            t,
            "--kind",
            "partner",
            "--name",
            "X",
            "--scope",
            "spaces:read",
            "--expires",
            "tomorrow",
        ),
        ("key-create", "--tenant", "not-a-uuid", "--kind", "partner", "--name", "X"),
        (
            "key-create",
            "--tenant",
            t,
            "--kind",
            "widget",
            "--name",
            "X",
            "--origin",
            "https://a.example/path",
        ),
        ("key-revoke", "--tenant", t, "--id", "nonsense"),
        ("key-list", "--tenant", "00000000-0000-4000-8000-000000000000"),
    ]
    for args in cases:
        code, out, err = await run_cli(database_url, *args)
        assert code == 2, (args, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and out == "", (args, err)


KEY_LISTING = """{ apiKeys(first: 50) { totalCount edges { node { id scopes status
  reach { type categories fields { access } } } } }
  webhookSubscriptions(first: 50) { totalCount edges { node { id url status } } } }"""


@pytest.mark.big_queries
async def test_listing_statement_count_is_independent_of_sizes(api, new_tenant, app_engine):
    """Keys (with their reach, decided in memory) and subscriptions: no statement per row."""
    counts = []
    for n in (1, 8):
        tenant = await new_tenant()
        owner = api(tenant.token)
        for _ in range(n):
            created = await _create(owner, scopes=["contacts:read"])
            await owner(
                'mutation($k: ID!) { webhookSubscriptionCreate(input: {url: "https://h.example.com/x", '
                'eventTypes: ["contact.created"], apiKeyId: $k}) { userErrors { code } } }',
                {"k": created["apiKey"]["id"]},
            )
        with count_statements(app_engine) as statements:
            result = await owner(KEY_LISTING)
        assert "errors" not in result, result
        assert len(result["data"]["apiKeys"]["edges"]) == n
        assert result["data"]["webhookSubscriptions"]["totalCount"] == n
        counts.append(len(statements))
    assert counts[0] == counts[1]
