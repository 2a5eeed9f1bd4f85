"""No e-mail existence oracle for callers who see e-mail only masked.

Invariants:
- for an editor or a `contacts:write` key (e-mail masked), the same probe gets the same
  answer whether the address exists, was erased (suppressed), or is unknown: an import with
  an invalid row, a create or an update with an address in use;
- a caller who reads e-mail in full still learns which row collides (unchanged).
"""

from __future__ import annotations

import uuid

import pytest

from core.db import owner_db
from core.ids import encode_id
from models import Contact, Suppression
from privacy.subjects import subject_hash
from tests.factories import make_contacts, make_key

IMPORT = """mutation($rows: [ContactCreateInput!]!) { contactImport(input: {contacts: $rows}) {
    importedCount contacts { id } userErrors { code field row message } } }"""
CREATE = """mutation($e: String!) { contactCreate(input: {email: $e}) {
    contact { id } userErrors { code field row message } } }"""
UPDATE = """mutation($id: ID!, $e: String!) { contactUpdate(input: {id: $id, email: $e}) {
    contact { id } userErrors { code field row message } } }"""


async def _world(new_tenant, new_member, owner_url, settings, caller: str):
    tenant = await new_tenant()
    existing = f"known-{uuid.uuid4().hex[:8]}@example.com"
    erased = f"erased-{uuid.uuid4().hex[:8]}@example.com"
    async with owner_db(owner_url, tenant.tenant_id) as db:
        db.add(Contact(id=uuid.uuid4(), email=existing, full_name="Known"))
        db.add(Suppression(id=uuid.uuid4(), email_hash=subject_hash(settings.secret(), erased)))
    if caller == "editor":
        token = (await new_member(tenant.tenant_id, "editor")).token
    else:
        token = await make_key(owner_url, tenant.tenant_id, "partner", ["contacts:write"])
    return tenant, token, existing, erased


@pytest.mark.parametrize("caller", ["editor", "contacts:write"])
async def test_masked_callers_get_one_answer_whatever_the_address(
    caller, api, new_tenant, new_member, owner_url, settings
):
    tenant, token, existing, erased = await _world(
        new_tenant, new_member, owner_url, settings, caller
    )
    unknown = f"unknown-{uuid.uuid4().hex[:8]}@example.com"
    client = api(token)

    # an import whose last row is invalid: nothing is imported either way
    def probe(address: str):
        return client(IMPORT, {"rows": [{"email": address}, {"email": "not an address"}]})

    answers = [await probe(a) for a in (existing, erased, unknown)]
    assert answers[0] == answers[1] == answers[2], answers

    # a create and an update with an address in use: one answer for in use and erased
    created = [await client(CREATE, {"e": a}) for a in (existing, erased)]
    assert created[0] == created[1], created
    other = (await make_contacts(owner_url, tenant.tenant_id, 1))[0]
    gid = encode_id("Contact", other)
    updated = [await client(UPDATE, {"id": gid, "e": a}) for a in (existing, erased)]
    assert updated[0] == updated[1], updated
    # and a whole valid import that collides names no row
    collided = await client(IMPORT, {"rows": [{"email": unknown}, {"email": existing}]})
    errors = collided["data"]["contactImport"]["userErrors"]
    assert [e["row"] for e in errors] == [None], errors


async def test_a_full_reader_still_learns_the_colliding_row(api, new_tenant, owner_url, settings):
    tenant = await new_tenant()
    existing = f"known-{uuid.uuid4().hex[:8]}@example.com"
    async with owner_db(owner_url, tenant.tenant_id) as db:
        db.add(Contact(id=uuid.uuid4(), email=existing, full_name="Known"))
    result = await api(tenant.token)(
        IMPORT, {"rows": [{"email": "new@example.com"}, {"email": existing}]}
    )
    errors = result["data"]["contactImport"]["userErrors"]
    assert [(e["code"], e["row"]) for e in errors] == [("DUPLICATE_EMAIL", 1)]
