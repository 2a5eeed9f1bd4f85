"""An audit entry about several contacts names only the subject in the subject's export."""

from __future__ import annotations

from sqlalchemy import text

from core.db import owner_db
from tests.factories import make_contacts


async def test_shared_audit_entry_is_cut_to_the_subject(
    api, client, new_tenant, new_member, owner_url
):
    tenant = await new_tenant()
    subject, neighbour = await make_contacts(owner_url, tenant.tenant_id, 2)
    # one listing: one audit entry naming both contacts
    await api(tenant.token)("{ contacts { edges { node { email } } } }")
    async with owner_db(owner_url, tenant.tenant_id) as db:
        email = await db.scalar(text("SELECT email FROM contacts WHERE id = :c"), {"c": subject})
    officer = (await new_member(tenant.tenant_id, "privacy_officer")).token
    filed = await api(officer)(
        "mutation($e: String) { subjectAccessRequest(input: {email: $e}) { request { id } } }",
        {"e": email},
    )
    rid = filed["data"]["subjectAccessRequest"]["request"]["id"]
    await api(officer)(
        'mutation($id: ID!) { subjectRequestVerify(input: {id: $id, attestation: "in person"}) { request { state } } }',
        {"id": rid},
    )
    done = await api(officer)(
        "mutation($id: ID!) { subjectRequestProcess(id: $id) { exportLink { jsonUrl } } }",
        {"id": rid},
    )
    url = done["data"]["subjectRequestProcess"]["exportLink"]["jsonUrl"]

    response = await client.get(url, headers={"Authorization": f"Bearer {officer}"})

    assert response.status_code == 200, response.text
    entries = response.json()["data"]["audit_log"]
    assert entries and all(e["subject_contact_ids"] == [str(subject)] for e in entries)
    assert str(neighbour) not in response.text
