"""Audit entries about reads of subject requests name their subjects.

Invariants:
- reading a request's personal fields (the address, members' reasons, trail notes) is
  audited with the matched contacts as subjects, so the entry shows in
  `auditLog(subjectId:)` like any other read of that contact's data.
"""

from __future__ import annotations

from core.ids import encode_id
from tests.factories import make_full_contact
from tests.test_audit import _entries
from tests.test_subject_requests import FILE, _contact_email

READ_REQUEST = """query($id: ID!) { subjectRequest(id: $id) { subjectEmail trail { note } } }"""
LIST_REQUESTS = "{ subjectRequests { edges { node { subjectEmail } } } }"


async def test_reads_of_a_subject_request_name_its_subject(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    email = await _contact_email(owner_url, tenant.tenant_id, cid)
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    filed = (await officer(FILE % "subjectAccessRequest", {"e": email}))["data"]
    rid = filed["subjectAccessRequest"]["request"]["id"]

    await officer(READ_REQUEST, {"id": rid})
    await officer(LIST_REQUESTS)

    gid = encode_id("Contact", cid)
    entries = await _entries(api, tenant.token, gid)
    fields = {f for e in entries for f in e["fields"]}
    assert "subjectEmail" in fields, entries
    assert all(e["subjectContactIds"] == [gid] for e in entries), entries
