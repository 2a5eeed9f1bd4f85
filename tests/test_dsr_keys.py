"""A `dsr` partner key cannot impersonate a data subject.

Invariants:
- a subject link is e-mailed to the contact's own address; the caller never sees the token;
- verifying by attestation needs a member (a partner key is FORBIDDEN);
- a key's filing response is the same whether the address matched a contact or not.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from core.db import owner_db
from core.ids import encode_id
from models import OutboxMessage
from tests.conftest import error_codes
from tests.factories import make_full_contact, make_key
from tests.test_subject_requests import _contact_email

LINK = "mutation($c: ID!) { subjectLinkCreate(contactId: $c) { token sent } }"
FILE = """mutation($e: String) { subjectAccessRequest(input: {email: $e}) { request {
    id kind state matchedContactCount trail { fromState toState actorKind } }
    userErrors { code } } }"""
VERIFY = """mutation($id: ID!, $a: String) { subjectRequestVerify(input: {id: $id, attestation: $a}) {
    request { state } userErrors { code } } }"""


async def test_a_subject_link_goes_to_the_contacts_own_address(api, new_tenant, owner_url):
    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    dsr = api(await make_key(owner_url, tenant.tenant_id, "partner", ["dsr"]))
    result = (await dsr(LINK, {"c": encode_id("Contact", cid)}))["data"]["subjectLinkCreate"]
    assert result == {"token": None, "sent": True}
    async with owner_db(owner_url, tenant.tenant_id) as db:
        rows = list(
            await db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "subject_link"))
        )
    assert [r.contact_id for r in rows] == [cid]
    assert rows[0].payload["token"].startswith("mss_")


async def test_a_key_cannot_attest_and_learns_nothing_from_filing(api, new_tenant, owner_url):
    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    email = await _contact_email(owner_url, tenant.tenant_id, cid)
    dsr = api(await make_key(owner_url, tenant.tenant_id, "partner", ["dsr"]))

    answers = []
    for address in (email, f"nobody-{uuid.uuid4().hex[:8]}@example.com"):
        filed = (await dsr(FILE, {"e": address}))["data"]["subjectAccessRequest"]
        assert filed["userErrors"] == []
        answers.append({k: v for k, v in filed["request"].items() if k != "id"})
    assert answers[0] == answers[1], answers
    assert answers[0]["matchedContactCount"] is None

    request_id = (await dsr(FILE, {"e": email}))["data"]["subjectAccessRequest"]["request"]["id"]
    assert error_codes(await dsr(VERIFY, {"id": request_id, "a": "checked by phone"})) == [
        "FORBIDDEN"
    ]
