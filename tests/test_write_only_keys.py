"""Write-only keys learn nothing about consent.

Invariants:
- a `usage:write` key gets the same answer to `usageRecord` whether or not the contact
  granted analytics consent (nothing is stored without it, and the skip is audited);
- a `marketing:write` key gets the same answer to `marketingEmailQueue` whether or not the
  contacts granted marketing consent (only consenting contacts are queued);
- a caller who may read consent still gets the exact outcome.
"""

from __future__ import annotations

from sqlalchemy import text

from core.ids import encode_id
from tests.factories import make_contacts, make_key, make_spaces

RECORD = """mutation($c: ID!, $s: ID!) { usageRecord(input: {contactId: $c, spaceId: $s}) {
    recorded accepted userErrors { code field } } }"""
QUEUE = """mutation($ids: [ID!]!) { marketingEmailQueue(input: {contactIds: $ids, subject: "s",
    body: "b"}) { acceptedCount queuedCount skippedCount userErrors { code } } }"""


async def test_usage_write_key_gets_one_answer(api, new_tenant, owner_url, owner_engine):
    tenant = await new_tenant()
    space = encode_id("Space", (await make_spaces(owner_url, tenant.tenant_id, 1))[0])
    granted = (await make_contacts(owner_url, tenant.tenant_id, 1, consents=("analytics",)))[0]
    never = (await make_contacts(owner_url, tenant.tenant_id, 1))[0]
    key = api(await make_key(owner_url, tenant.tenant_id, "partner", ["usage:write"]))

    answers = [
        (await key(RECORD, {"c": encode_id("Contact", c), "s": space}))["data"]["usageRecord"]
        for c in (granted, never)
    ]
    assert answers[0] == answers[1] == {"recorded": None, "accepted": True, "userErrors": []}
    async with owner_engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT array_agg(contact_id) FROM usage_events WHERE tenant_id = :t"),
            {"t": tenant.tenant_id},
        )
    assert stored == [granted]
    # the owner, who reads consent, still learns the exact outcome
    owner = api(tenant.token)
    exact = (await owner(RECORD, {"c": encode_id("Contact", never), "s": space}))["data"]
    assert exact["usageRecord"]["userErrors"] == [{"code": "NO_CONSENT", "field": ["contactId"]}]


async def test_marketing_write_key_gets_one_answer(api, new_tenant, owner_url, owner_engine):
    tenant = await new_tenant()
    granted = await make_contacts(owner_url, tenant.tenant_id, 2, consents=("marketing_email",))
    never = await make_contacts(owner_url, tenant.tenant_id, 2)
    key = api(await make_key(owner_url, tenant.tenant_id, "partner", ["marketing:write"]))

    answers = [
        (await key(QUEUE, {"ids": [encode_id("Contact", c) for c in group]}))["data"][
            "marketingEmailQueue"
        ]
        for group in (granted, never)
    ]
    assert answers[0] == answers[1], answers
    assert answers[0] == {
        "acceptedCount": 2,
        "queuedCount": None,
        "skippedCount": None,
        "userErrors": [],
    }
    async with owner_engine.connect() as conn:
        queued = await conn.scalar(
            text("SELECT count(*) FROM outbox WHERE tenant_id = :t AND kind = 'marketing'"),
            {"t": tenant.tenant_id},
        )
    assert queued == 2
