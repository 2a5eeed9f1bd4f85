"""The consent ledger through HTTP.

Invariants guarded here:
- the ledger is append-only: every grant and withdrawal is a new event, the application role
  cannot update or delete one, and the current state is derived from the latest event;
- a withdrawal takes effect at once: queued marketing e-mail is cancelled in the same
  transaction, and the worker checks consent again at send time.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from core.db import owner_db
from core.ids import encode_id
from microspace.jobs.worker import run
from models import ConsentEvent, EmailSent, OutboxMessage
from tests.conftest import error_codes
from tests.factories import make_contacts

GRANT = """
mutation($input: ConsentGrantInput!) {
  consentGrant(input: $input) {
    consent { purpose state granted policyVersion }
    event { id action }
    userErrors { code field }
  }
}"""
WITHDRAW = """
mutation($input: ConsentWithdrawInput!) {
  consentWithdraw(input: $input) { consent { state granted } event { action } userErrors { code } }
}"""
CONTACT = """
query($id: ID!) {
  contact(id: $id) {
    consents { purpose state granted source policyVersion changedAt }
    consentHistory { totalCount edges { node { purpose action source policyVersion evidence occurredAt } } }
  }
}"""
QUEUE = """
mutation($ids: [ID!]!) {
  marketingEmailQueue(input: {contactIds: $ids, subject: "Spring offers", body: "Hello!"}) {
    queuedCount skippedCount userErrors { code }
  }
}"""


async def test_grant_withdraw_grant_keeps_three_events_and_derives_the_state(
    api, new_tenant, owner_url
):
    # given
    t = await new_tenant()
    owner = api(t.token)
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1)
    contact = encode_id("Contact", cid)
    # when
    first = await owner(
        GRANT,
        {
            "input": {
                "contactId": contact,
                "purpose": "MARKETING_EMAIL",
                "policyVersion": "2024-01",
                "source": "FORM",
                "evidence": "Newsletter box ticked on /signup",
            }
        },
    )
    assert first["data"]["consentGrant"]["consent"] == {
        "purpose": "MARKETING_EMAIL",
        "state": "GRANTED",
        "granted": True,
        "policyVersion": "2024-01",
    }
    withdrawn = await owner(
        WITHDRAW,
        {"input": {"contactId": contact, "purpose": "MARKETING_EMAIL", "source": "WIDGET"}},
    )
    assert withdrawn["data"]["consentWithdraw"]["consent"] == {
        "state": "WITHDRAWN",
        "granted": False,
    }
    await owner(
        GRANT,
        {"input": {"contactId": contact, "purpose": "MARKETING_EMAIL", "policyVersion": "2024-06"}},
    )
    # then
    data = (await owner(CONTACT, {"id": contact}))["data"]["contact"]
    history = data["consentHistory"]
    assert history["totalCount"] == 3
    assert [
        (e["node"]["action"], e["node"]["source"], e["node"]["policyVersion"])
        for e in history["edges"]
    ] == [
        ("GRANTED", "API", "2024-06"),
        ("WITHDRAWN", "WIDGET", None),
        ("GRANTED", "FORM", "2024-01"),
    ]
    assert history["edges"][2]["node"]["evidence"] == "Newsletter box ticked on /signup"
    current = {c["purpose"]: c for c in data["consents"]}
    assert current["MARKETING_EMAIL"]["state"] == "GRANTED"
    assert current["MARKETING_EMAIL"]["policyVersion"] == "2024-06"
    assert current["MARKETING_EMAIL"]["changedAt"] == history["edges"][0]["node"]["occurredAt"]
    assert {p: c["state"] for p, c in current.items() if p != "MARKETING_EMAIL"} == {
        "PRODUCT_UPDATES": "NOT_GIVEN",
        "ANALYTICS": "NOT_GIVEN",
        "COOKIES": "NOT_GIVEN",
    }


async def test_grant_needs_a_policy_version_and_a_role_that_may_record_consent(
    api, new_tenant, new_member, owner_url
):
    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1)
    contact = encode_id("Contact", cid)
    missing = await api(t.token)(
        GRANT, {"input": {"contactId": contact, "purpose": "ANALYTICS", "policyVersion": " "}}
    )
    assert [(e["code"], e["field"]) for e in missing["data"]["consentGrant"]["userErrors"]] == [
        ("REQUIRED", ["policyVersion"])
    ]
    editor = api((await new_member(t.tenant_id, "editor")).token)
    denied = await editor(
        GRANT, {"input": {"contactId": contact, "purpose": "ANALYTICS", "policyVersion": "v1"}}
    )
    assert error_codes(denied) == ["FORBIDDEN"]
    # editors may still read the current state
    assert (await editor(CONTACT, {"id": contact}))["data"]["contact"]["consentHistory"][
        "totalCount"
    ] == 0


async def test_the_ledger_is_append_only_for_the_application_role(
    app_engine, new_tenant, owner_url
):
    t = await new_tenant()
    await make_contacts(owner_url, t.tenant_id, 1, consents=("cookies",))
    for statement in (
        "UPDATE consent_events SET action = 'withdrawn'",
        "DELETE FROM consent_events",
    ):
        async with app_engine.connect() as conn:
            await conn.execute(
                text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(t.tenant_id)}
            )
            with pytest.raises(DBAPIError, match="permission denied"):
                await conn.execute(text(statement))


async def _outbox(owner_url, tenant_id) -> dict[uuid.UUID, str]:
    async with owner_db(owner_url, tenant_id) as db:
        rows = await db.scalars(select(OutboxMessage))
        return {r.contact_id: r.status for r in rows}


async def test_marketing_queued_before_a_withdrawal_is_not_sent_after_it(
    api, new_tenant, owner_url, settings, tmp_path
):
    # given: two contacts with marketing consent and one without
    t = await new_tenant()
    owner = api(t.token)
    keep, leave = await make_contacts(owner_url, t.tenant_id, 2, consents=("marketing_email",))
    (never,) = await make_contacts(owner_url, t.tenant_id, 1)
    ids = [encode_id("Contact", c) for c in (keep, leave, never)]
    queued = await owner(QUEUE, {"ids": ids})
    assert queued["data"]["marketingEmailQueue"] == {
        "queuedCount": 2,
        "skippedCount": 1,
        "userErrors": [],
    }
    assert await _outbox(owner_url, t.tenant_id) == {keep: "pending", leave: "pending"}
    # when: one withdraws before the worker runs
    await owner(WITHDRAW, {"input": {"contactId": ids[1], "purpose": "MARKETING_EMAIL"}})
    assert await _outbox(owner_url, t.tenant_id) == {keep: "pending", leave: "cancelled"}
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    # then: only the contact who still consents got it, and it is recorded for that contact
    async with owner_db(owner_url, t.tenant_id) as db:
        sent = list(await db.scalars(select(EmailSent)))
        rows = {r.contact_id: r for r in await db.scalars(select(OutboxMessage))}
    assert [s.contact_id for s in sent] == [keep]
    assert sent[0].to_address in (Path(tmp_path) / f"{rows[keep].id}.eml").read_text()
    assert not (Path(tmp_path) / f"{rows[leave].id}.eml").exists()
    assert rows[leave].status == "cancelled"


async def test_the_worker_checks_consent_again_at_send_time(
    api, new_tenant, owner_url, settings, tmp_path
):
    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    await api(t.token)(QUEUE, {"ids": [encode_id("Contact", cid)]})
    # a withdrawal that reached the ledger without the mutation's cancellation (e.g. written
    # by another process): the worker must still refuse to send
    async with owner_db(owner_url, t.tenant_id) as db:
        db.add(
            ConsentEvent(
                id=uuid.uuid4(),
                contact_id=cid,
                purpose="marketing_email",
                action="withdrawn",
                source="api",
            )
        )
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    assert await _outbox(owner_url, t.tenant_id) == {cid: "cancelled"}
    async with owner_db(owner_url, t.tenant_id) as db:
        assert list(await db.scalars(select(EmailSent))) == []


async def test_node_reads_a_consent_event_under_the_consent_policy(
    api, new_tenant, new_member, owner_url
):
    """node(id) checks the same policy object as the type's own root field."""
    from core.ids import encode_id
    from tests.factories import make_full_contact

    tenant = await new_tenant()
    cid = encode_id("Contact", await make_full_contact(owner_url, tenant.tenant_id))
    history = await api(tenant.token)(
        "query($id: ID!) { contact(id: $id) { consentHistory { edges { node { id } } } } }",
        {"id": cid},
    )
    event_id = history["data"]["contact"]["consentHistory"]["edges"][0]["node"]["id"]
    admin = (await new_member(tenant.tenant_id, "admin")).token
    viewer = (await new_member(tenant.tenant_id, "viewer")).token
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await api(admin)(node, {"id": event_id}))["data"]["node"]["id"] == event_id
    assert (await api(viewer)(node, {"id": event_id}))["data"]["node"]["id"] == event_id
