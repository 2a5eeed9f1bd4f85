"""One consent withdrawal, whichever way it comes: `consentWithdraw` of a member, a
visitor's own change, and the one-click unsubscribe link, all through HTTP.

Invariants:
- each writes the same audit entry (`consent_withdrawn`, the contact as subject, the field
  `consents`), the same `consent.withdrawn` domain event (payload shape and fields), the
  same webhook delivery to a subscriber, and cancels the contact's queued marketing e-mail
  (status, `last_error`, `cancelledAt`); only the ledger's source and the actor differ;
- the one-click actor is the data subject (audit kind `subject`, principal id: the contact;
  event actor `subject`), never a member;
- the application role can have the audit chain vouch for a data subject only in the
  transaction that wrote that contact's one-click withdrawal.
"""

from __future__ import annotations

import ast
import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.db import owner_db
from core.ids import encode_id
from microspace.jobs.webhooks import Webhooks
from privacy.unsubscribe import sign
from schema.build import build_schema
from tests.factories import make_access, make_contacts, make_spaces, mint_key
from tests.webhook_receiver import Receiver, serving
from tests.widgets import PersistedApi, open_visitor

QUEUE = """mutation($ids: [ID!]!) { marketingEmailQueue(input: {contactIds: $ids,
  subject: "News", body: "News"}) { queuedCount userErrors { code } } }"""
WITHDRAW = """mutation($c: ID!, $s: ConsentSource!) { consentWithdraw(input: {contactId: $c,
  purpose: MARKETING_EMAIL, source: $s}) { consent { granted } userErrors { code } } }"""
SUBSCRIBE = """mutation($input: WebhookSubscriptionCreateInput!) {
  webhookSubscriptionCreate(input: $input) { subscription { id } userErrors { code } } }"""


async def _rows(owner_url, tenant_id, sql: str) -> list[Any]:
    async with owner_db(owner_url, tenant_id) as db:
        return list(await db.execute(text(sql), {"t": tenant_id}))


async def _deliver(app, settings, receiver: Receiver, count: int) -> None:
    fast = replace(settings, webhook_backoff_seconds=0.02)
    worker = Webhooks(
        sessionmaker=app.state.microspace.sessionmaker, settings=fast, schema=build_schema()
    )
    for _ in range(100):
        await worker.run_once()
        if len(set(receiver.accepted_ids())) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the deliveries did not arrive")


async def test_every_way_of_withdrawing_has_the_same_effects(
    api, app, client, new_tenant, owner_url, settings
):
    # given three contacts with marketing consent and a queued newsletter each, a visitor
    # session for one of them, and a partner subscribed to consent.withdrawn
    t = await new_tenant()
    owner = api(t.token)
    by_member, by_visitor, by_link = await make_contacts(
        owner_url, t.tenant_id, 3, consents=("marketing_email",)
    )
    gids = {c: encode_id("Contact", c) for c in (by_member, by_visitor, by_link)}
    queued = await owner(QUEUE, {"ids": list(gids.values())})
    assert queued["data"]["marketingEmailQueue"]["queuedCount"] == 3
    (space,) = await make_spaces(owner_url, t.tenant_id, 1, status="published")
    await make_access(owner_url, t.tenant_id, space, [by_visitor])
    session = await open_visitor(client, settings.secret(), t.tenant_id, space, by_visitor)
    visitor = PersistedApi(client, session["visitorToken"], owner)
    partner = api(await mint_key(owner, "partner", ["contacts:read", "webhooks:manage"]))

    async with serving(Receiver()) as receiver:
        sub = await partner(
            SUBSCRIBE, {"input": {"url": receiver.url, "eventTypes": ["consent.withdrawn"]}}
        )
        assert sub["data"]["webhookSubscriptionCreate"]["userErrors"] == [], sub

        # when a member, the visitor and the one-click link each withdraw one of them
        member = await owner(WITHDRAW, {"c": gids[by_member], "s": "API"})
        assert member["data"]["consentWithdraw"]["userErrors"] == []
        own = await visitor(WITHDRAW, {"c": session["contactId"], "s": "WIDGET"})
        assert own["data"]["consentWithdraw"]["userErrors"] == [], own
        token = sign(
            settings.secret(), tenant_id=t.tenant_id, contact_id=by_link, purpose="marketing_email"
        )
        clicked = await client.post(
            f"/unsubscribe/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert clicked.status_code == 200
        await _deliver(app, settings, receiver, 3)

    # then the ledger tells how each came
    ledger = await _rows(
        owner_url,
        t.tenant_id,
        "SELECT id, contact_id, source FROM consent_events WHERE tenant_id = :t "
        "AND action = 'withdrawn'",
    )
    assert {r.contact_id: r.source for r in ledger} == {
        by_member: "api",
        by_visitor: "widget",
        by_link: "one_click",
    }

    # the same audit entry, by who really acted
    audit = await _rows(
        owner_url,
        t.tenant_id,
        "SELECT subject_contact_ids, fields, principal_kind, principal_id FROM audit_log "
        "WHERE tenant_id = :t AND operation = 'consent_withdrawn'",
    )
    entries = {tuple(r.subject_contact_ids): r for r in audit}
    assert set(entries) == {(by_member,), (by_visitor,), (by_link,)}
    assert {tuple(r.fields) for r in audit} == {("consents",)}
    assert entries[(by_member,)].principal_kind == "member"
    assert entries[(by_visitor,)].principal_kind == "visitor"
    assert (entries[(by_link,)].principal_kind, entries[(by_link,)].principal_id) == (
        "subject",
        by_link,
    )

    # the same domain event, naming the ledger row
    events = await _rows(
        owner_url,
        t.tenant_id,
        "SELECT payload FROM domain_events WHERE tenant_id = :t AND topic = 'consent.withdrawn'",
    )
    payloads = {r.payload["id"]: r.payload for r in events}
    assert set(payloads) == {encode_id("ConsentEvent", r.id) for r in ledger}
    for payload in payloads.values():
        assert set(payload) == {"type", "id", "fields", "actor"}
        assert (payload["type"], payload["fields"]) == ("ConsentEvent", ["consents"])
    assert sorted(p["actor"] for p in payloads.values()) == ["member", "subject", "visitor"]

    # the same webhook delivery, one per withdrawal
    bodies = [r.payload for r in receiver.received if r.status == 200]
    assert sorted(b["data"]["id"] for b in bodies) == sorted(payloads)
    for body in bodies:
        assert body["type"] == "consent.withdrawn"
        assert body["data"]["objectType"] == "ConsentEvent"
        assert body["data"]["fields"] == ["consents"]
    assert len({frozenset(b["data"]) for b in bodies}) == 1

    # and each queued newsletter cancelled the same way
    outbox = await _rows(
        owner_url,
        t.tenant_id,
        "SELECT contact_id, status, last_error, cancelled_at IS NOT NULL AS stamped "
        "FROM outbox WHERE tenant_id = :t AND kind = 'marketing'",
    )
    assert {(r.contact_id, r.status, r.last_error, r.stamped) for r in outbox} == {
        (c, "cancelled", "consent withdrawn", True) for c in (by_member, by_visitor, by_link)
    }


async def test_no_vouching_for_a_subject_without_a_one_click_withdrawal(
    client, new_tenant, owner_url, settings
):
    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    token = sign(
        settings.secret(), tenant_id=t.tenant_id, contact_id=cid, purpose="marketing_email"
    )
    one_click = {"List-Unsubscribe": "One-Click"}
    assert (await client.post(f"/unsubscribe/{token}", data=one_click)).status_code == 200
    engine = create_async_engine(settings.app_url())
    try:
        # a later transaction cannot reuse the committed withdrawal to speak for the contact
        async with engine.connect() as conn, conn.begin():
            await conn.execute(
                text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(t.tenant_id)}
            )
            with pytest.raises(DBAPIError, match="one-click withdrawal"):
                await conn.execute(text("SELECT audit_vouch_one_click(:c)"), {"c": cid})
    finally:
        await engine.dispose()
    audit = await _rows(
        owner_url,
        t.tenant_id,
        "SELECT count(*) FROM audit_log WHERE tenant_id = :t AND principal_kind = 'subject'",
    )
    assert audit[0][0] == 1  # the genuine one-click entry only


PACKAGES = ("core", "models", "store", "policies", "privacy", "compiler", "schema")
PACKAGES += ("resolvers", "microspace")
LEDGER = {"ConsentEvent", "ConsentEventModel"}  # the model, as imported by name


def test_one_module_writes_the_ledger_and_the_withdrawal():
    """`grep` finds one withdrawal: no other module builds a ledger row or names the topic
    `consent.withdrawn` (but the catalogue of event types, which writes nothing)."""
    root = Path(__file__).resolve().parent.parent
    builders, emitters = set(), set()
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            name = str(path.relative_to(root))
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) in LEDGER:
                    builders.add(name)
                if isinstance(node, ast.Constant) and node.value == "consent.withdrawn":
                    emitters.add(name)
    assert builders == {"privacy/consent.py"}
    assert emitters == {"privacy/consent.py", "models/domain_event.py"}
