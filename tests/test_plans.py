"""Plans and usage: the operator sets limits (CLI); the API refuses to go past them.

Invariants:
- `microspace plan-set` sets a tenant's plan (JSON out; bad input exits 2 with one line);
- creating past a limit is the user error `PLAN_LIMIT` and writes nothing (spaces, contacts
  one by one or imported, e-mail per month, API keys);
- `tenantUsage` shows usage against the limits as counts; no plan means no limit;
- only owners and admins see the usage.
"""

from __future__ import annotations

import json

from core.ids import encode_id
from tests.conftest import error_codes
from tests.factories import API_KEY_CREATE, make_contacts
from tests.test_cli import run_cli, run_cli_process

USAGE = """{ tenantUsage { plan spaces { used limit } contacts { used limit }
  emailsThisMonth { used limit } apiKeys { used limit } } }"""
SPACE = "mutation($t: String!) { spaceCreate(input: {title: $t}) { space { id } userErrors { code message } } }"
CONTACT = "mutation($e: String!) { contactCreate(input: {email: $e}) { contact { id } userErrors { code } } }"
IMPORT = 'mutation { contactImport(input: {contacts: [{email: "i1@example.com"}]}) { importedCount userErrors { code } } }'
QUEUE = """mutation($ids: [ID!]!) { marketingEmailQueue(input: {contactIds: $ids, subject: "S",
  body: "B"}) { queuedCount userErrors { code } } }"""


async def test_limits_are_enforced_and_usage_is_shown(
    api, new_tenant, new_member, database_url, owner_url
):
    tenant = await new_tenant()
    owner = api(tenant.token)
    # no plan: nothing is limited
    free = (await owner(USAGE))["data"]["tenantUsage"]
    assert free["plan"] is None and free["spaces"] == {"used": 0, "limit": None}

    # in a new interpreter: the plan command's smoke test as an operator runs it
    code, out, err = await run_cli_process(
        database_url,
        "plan-set",
        "--tenant",
        str(tenant.tenant_id),
        "--name",
        "starter",
        "--spaces",
        "1",
        "--contacts",
        "3",
        "--emails-per-month",
        "1",
        "--api-keys",
        "0",
    )
    assert code == 0, err
    assert json.loads(out)["limits"] == {
        "spaces": 1,
        "contacts": 3,
        "emails_per_month": 1,
        "api_keys": 0,
        "storage_bytes": None,
    }

    # spaces
    assert (await owner(SPACE, {"t": "One"}))["data"]["spaceCreate"]["userErrors"] == []
    refused = (await owner(SPACE, {"t": "Two"}))["data"]["spaceCreate"]
    assert refused["space"] is None
    assert [e["code"] for e in refused["userErrors"]] == ["PLAN_LIMIT"]
    assert "starter plan allows 1 spaces" in refused["userErrors"][0]["message"]
    # contacts, one by one and imported (all or nothing)
    ids = await make_contacts(owner_url, tenant.tenant_id, 2, consents=("marketing_email",))
    assert (await owner(CONTACT, {"e": "c3@example.com"}))["data"]["contactCreate"][
        "userErrors"
    ] == []
    over = (await owner(CONTACT, {"e": "c4@example.com"}))["data"]["contactCreate"]
    assert over == {"contact": None, "userErrors": [{"code": "PLAN_LIMIT"}]}
    imported = (await owner(IMPORT))["data"]["contactImport"]
    assert imported == {"importedCount": 0, "userErrors": [{"code": "PLAN_LIMIT"}]}
    # e-mail per month: two recipients do not fit in one
    gids = [encode_id("Contact", c) for c in ids]
    queued = (await owner(QUEUE, {"ids": gids}))["data"]["marketingEmailQueue"]
    assert queued == {"queuedCount": 0, "userErrors": [{"code": "PLAN_LIMIT"}]}
    assert (await owner(QUEUE, {"ids": gids[:1]}))["data"]["marketingEmailQueue"][
        "queuedCount"
    ] == 1

    # API keys: the plan allows none
    key = await owner(
        API_KEY_CREATE,
        {"input": {"kind": "PARTNER", "name": "k", "scopes": ["spaces:read"]}},
    )
    assert key["data"]["apiKeyCreate"]["secret"] is None
    assert [e["code"] for e in key["data"]["apiKeyCreate"]["userErrors"]] == ["PLAN_LIMIT"]

    usage = (await owner(USAGE))["data"]["tenantUsage"]
    assert usage == {
        "plan": "starter",
        "spaces": {"used": 1, "limit": 1},
        "contacts": {"used": 3, "limit": 3},
        "emailsThisMonth": {"used": 1, "limit": 1},
        "apiKeys": {"used": 0, "limit": 0},
    }
    admin = api((await new_member(tenant.tenant_id, "admin")).token)
    assert (await admin(USAGE))["data"]["tenantUsage"]["plan"] == "starter"
    viewer = api((await new_member(tenant.tenant_id, "viewer")).token)
    assert error_codes(await viewer(USAGE)) == ["FORBIDDEN"]


async def test_plan_set_refuses_bad_input(database_url, new_tenant):
    tenant = await new_tenant()
    for args in (
        ("plan-set", "--tenant", "nope", "--name", "x"),
        ("plan-set", "--tenant", str(tenant.tenant_id), "--name", " "),
        ("plan-set", "--tenant", str(tenant.tenant_id), "--name", "x", "--spaces", "-1"),
        ("plan-set", "--tenant", "00000000-0000-4000-8000-000000000000", "--name", "x"),
    ):
        code, out, err = await run_cli(database_url, *args)
        assert code == 2, (args, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1
