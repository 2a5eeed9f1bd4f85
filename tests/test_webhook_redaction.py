"""Webhook payloads are redacted for the subscribing key exactly as a GraphQL read would be.

Invariants (a matrix over every partner scope of the policy file x every object type a
webhook can carry):
- the payload's `object` and `redactions` equal what the same key gets from the same read
  over HTTP: same values, same masks, same nulls;
- a type the key may not read is delivered without its object, and the key cannot subscribe
  to its events at all (EVENT_TYPE_NOT_READABLE);
- the webhook read of personal data is audited as the key's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from core.db import Db, owner_db
from core.ids import encode_id
from files.storage import asset_key
from microspace.jobs.webhooks import Webhooks
from models import EVENT_TYPES, ApiToken, Asset, DomainEvent
from policies.authz import partner_scopes
from resolvers.webhook_payloads import READS
from schema.build import build_schema
from tests.conftest import error_codes
from tests.factories import make_full_contact, make_space, mint_key

SCHEMA = build_schema()
# one event type per object type a webhook reads
TOPICS = {t: next(name for name, (ty, _) in EVENT_TYPES.items() if ty == t) for t in READS}
OWNER_VIEW = """query($id: ID!) { contact(id: $id) {
  consentHistory { edges { node { id } } } spaces { edges { node { id } } } } }"""
FILE = "mutation($e: String) { subjectAccessRequest(input: {email: $e}) { request { id } } }"
SUBSCRIBE = """mutation($input: WebhookSubscriptionCreateInput!) {
  webhookSubscriptionCreate(input: $input) { subscription { id } userErrors { code } } }"""


async def _objects(api, tenant, owner_url) -> dict[str, str]:
    """A global ID of one object of every type a webhook reads, all about one person."""
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    contact = encode_id("Contact", cid)
    owner = api(tenant.token)
    view = (await owner(OWNER_VIEW, {"id": contact}))["data"]["contact"]
    space, blocks = await make_space(owner_url, tenant.tenant_id, blocks=1)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        email = await db.scalar(text("SELECT email FROM contacts WHERE id = :c"), {"c": cid})
    request = (await owner(FILE, {"e": email}))["data"]["subjectAccessRequest"]["request"]["id"]
    asset_id = uuid.uuid4()
    async with owner_db(owner_url, tenant.tenant_id) as db:
        db.add(
            Asset(
                id=asset_id,
                kind="document",
                name="contract.pdf",
                media_type="application/pdf",
                byte_size=10,
                storage_key=asset_key(tenant.tenant_id, asset_id),
                contact_id=cid,
            )
        )
    return {
        "Asset": encode_id("Asset", asset_id),
        "Contact": contact,
        "ConsentEvent": view["consentHistory"]["edges"][0]["node"]["id"],
        "SpaceAccess": view["spaces"]["edges"][0]["node"]["id"],
        "Space": space,
        "Block": blocks[0],
        "SubjectRequest": request,
    }


async def _payload(worker: Webhooks, app, tenant_id, event: DomainEvent) -> dict:
    db = Db(app.state.microspace.sessionmaker)
    try:
        await db.set_tenant(tenant_id)
        key = await db.scalar(select(ApiToken).where(ApiToken.kind == "partner"))
        body = await worker.payload(db, key, event)
        await db.commit()
        return body
    finally:
        await db.close()


@pytest.mark.parametrize("scope", partner_scopes())
async def test_payload_redaction_matrix(api, new_tenant, owner_url, app, settings, scope):
    # given one object of every type, and a key of this one scope issued by the owner
    tenant = await new_tenant()
    objects = await _objects(api, tenant, owner_url)
    owner = api(tenant.token)
    secret = await mint_key(owner, "partner", [scope])
    key_gid = (await owner("{ apiKeys { edges { node { id } } } }"))["data"]["apiKeys"]["edges"][0]
    worker = Webhooks(
        sessionmaker=app.state.microspace.sessionmaker, settings=settings, schema=SCHEMA
    )
    for type_name, gid in objects.items():
        topic = TOPICS[type_name]
        event = DomainEvent(
            id=uuid.uuid4(),
            topic=topic,
            payload={"type": type_name, "id": gid, "fields": []},
            created_at=datetime.now(UTC),
        )

        # when a webhook payload is built for the key (committed, as the worker does), and
        # the key reads the same itself
        body = await _payload(worker, app, tenant.tenant_id, event)
        graph = await api(secret)(READS[type_name], {"id": gid})

        # then both are the same, value for value, mask for mask, null for null
        readable = "errors" not in graph
        assert body["data"]["object"] == (graph["data"] or {}).get("object"), (scope, type_name)
        assert body["data"]["redactions"] == graph.get("extensions", {}).get("redactions", [])
        if not readable:
            assert error_codes(graph) == ["FORBIDDEN"] and body["data"]["object"] is None
        subscribed = await owner(
            SUBSCRIBE,
            {
                "input": {
                    "url": "https://hooks.example.com/in",
                    "eventTypes": [topic],
                    "apiKeyId": key_gid["node"]["id"],
                }
            },
        )
        errors = subscribed["data"]["webhookSubscriptionCreate"]["userErrors"]
        assert errors == ([] if readable else [{"code": "EVENT_TYPE_NOT_READABLE"}]), (
            scope,
            type_name,
        )
    # the payload reads of personal data are in the audit log, as the key's
    async with owner_db(owner_url, tenant.tenant_id) as odb:
        kinds = set(
            await odb.scalars(
                text(
                    "SELECT principal_kind FROM audit_log WHERE tenant_id = :t "
                    "AND operation = 'read' AND request_id LIKE 'webhook-%'"
                ),
                {"t": tenant.tenant_id},
            )
        )
    reads_personal = any(
        f["access"] != "WITHHELD"
        for r in (
            await owner(
                "query($id: ID!) { apiKey(id: $id) { reach { fields { access } } } }",
                {"id": key_gid["node"]["id"]},
            )
        )["data"]["apiKey"]["reach"]
        for f in r["fields"]
    )
    assert kinds == ({"partner"} if reads_personal else set()), scope


REACH = """query($id: ID!) { apiKey(id: $id) { reach { type fields { field access } } } }"""


@pytest.mark.parametrize("scope", partner_scopes())
async def test_reach_matches_what_the_key_reads(api, new_tenant, owner_url, scope):
    """What a key says it can read of a contact is what it gets: FULL the value, MASKED a
    changed non-null value, WITHHELD null (or the whole type refused)."""
    tenant = await new_tenant()
    owner = api(tenant.token)
    gid = encode_id("Contact", await make_full_contact(owner_url, tenant.tenant_id))
    secret = await mint_key(owner, "partner", [scope])
    key_id = (await owner("{ apiKeys { edges { node { id } } } }"))["data"]["apiKeys"]["edges"]
    reach = (await owner(REACH, {"id": key_id[0]["node"]["id"]}))["data"]["apiKey"]["reach"]
    contact = {
        f["field"]: f["access"] for r in reach if r["type"] == "Contact" for f in r["fields"]
    }
    full = (await owner(READS["Contact"], {"id": gid}))["data"]["object"]
    got = await api(secret)(READS["Contact"], {"id": gid})
    if not contact or "errors" in got:
        assert error_codes(got) == ["FORBIDDEN"] and set(contact.values()) <= {"WITHHELD"}
        return
    for field, access in contact.items():
        value = got["data"]["object"][field]
        if access == "FULL":
            assert value == full[field], (scope, field)
        elif access == "MASKED":
            assert value is not None and value != full[field], (scope, field)
        else:
            assert value is None, (scope, field)
