"""The audit log of personal-data reads and changes.

Invariants:
- a response that discloses personal fields (in full or masked) is audited: who, which
  subject, which fields, which request; withheld fields are not "read";
- entries are written with the request's transaction, and still written when an unexpected
  error rolls the request's changes back (the data was disclosed all the same);
- entries hold ids and field names, never values;
- the application role can neither insert (except through audit_append), update nor
  delete an entry; the per-tenant hash chain
  verifies, and a tampered entry breaks it;
- owners and privacy officers query the log with filters; other roles cannot.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.audit import AuditBuffer, read_entries
from core.auth import Principal
from core.ids import encode_id
from schema.consent import Consent
from tests.conftest import error_codes
from tests.factories import make_full_contact

LOG = """query($s: ID, $op: AuditOperation) { auditLog(subjectId: $s, operation: $op) {
    totalCount edges { node { seq operation principalKind subjectContactIds fields requestId hash } } } }"""
READ = "query($id: ID!) { contact(id: $id) { email fullName phone } }"


async def _entries(api, token, subject, operation="READ"):
    result = await api(token)(LOG, {"s": subject, "op": operation})
    return [e["node"] for e in result["data"]["auditLog"]["edges"]]


async def test_reads_are_audited_with_fields_and_request(
    client, api, new_tenant, new_member, owner_url
):
    tenant = await new_tenant()
    cid = encode_id("Contact", await make_full_contact(owner_url, tenant.tenant_id))
    viewer = await new_member(tenant.tenant_id, "viewer")

    response = await client.post(
        "/graphql",
        json={"query": READ, "variables": {"id": cid}},
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    await api(viewer.token)(READ, {"id": cid})

    entries = await _entries(api, tenant.token, cid)
    by_fields = {tuple(e["fields"]): e for e in entries}
    owner_entry = by_fields[("email", "fullName", "phone")]
    assert owner_entry["requestId"] == response.headers["x-request-id"]
    assert owner_entry["subjectContactIds"] == [cid] and owner_entry["principalKind"] == "member"
    # the viewer saw the name only: e-mail and phone were withheld, so not read
    assert ("fullName",) in by_fields


async def test_changes_are_audited_without_values(api, new_tenant, owner_engine):
    tenant = await new_tenant()
    created = await api(tenant.token)(
        'mutation { contactCreate(input: {email: "marker-a1@example.com", phone: "+41 44 000 11 22"}) { contact { id } } }'
    )
    cid = created["data"]["contactCreate"]["contact"]["id"]
    await api(tenant.token)(
        'mutation($id: ID!) { contactUpdate(input: {id: $id, phone: "+41 44 999 88 77"}) { contact { id } } }',
        {"id": cid},
    )
    assert [e["fields"] for e in await _entries(api, tenant.token, cid, "UPDATE")] == [["phone"]]
    assert [e["fields"] for e in await _entries(api, tenant.token, cid, "CREATE")] == [
        ["email", "phone"]
    ]
    async with owner_engine.connect() as conn:
        dump = await conn.scalar(
            text("SELECT string_agg(a::text, '|') FROM audit_log a WHERE tenant_id = :t"),
            {"t": tenant.tenant_id},
        )
    assert "marker-a1" not in dump and "999 88" not in dump


async def test_disclosure_is_audited_even_when_the_request_rolls_back(
    api, served_app, new_tenant, owner_url, monkeypatch
):
    tenant = await new_tenant()
    # the failure is planted in a resolver: this request takes the resolver path
    monkeypatch.setattr(served_app.state.compiled_reads, "enabled", False)
    cid = encode_id("Contact", await make_full_contact(owner_url, tenant.tenant_id))

    def boom(*args, **kwargs):
        raise RuntimeError("forced failure")

    monkeypatch.setattr(Consent, "for_all_purposes", boom)
    result = await api(tenant.token)(
        "query($id: ID!) { contact(id: $id) { email consents { purpose } } }", {"id": cid}
    )
    monkeypatch.undo()

    assert result["data"]["contact"]["email"].startswith("jane.doe-")
    assert error_codes(result) == ["INTERNAL_SERVER_ERROR"]
    assert [e["fields"] for e in await _entries(api, tenant.token, cid)] == [["email"]]


async def test_app_role_cannot_rewrite_history(settings, api, new_tenant, owner_url):
    tenant = await new_tenant()
    cid = encode_id("Contact", await make_full_contact(owner_url, tenant.tenant_id))
    await api(tenant.token)(READ, {"id": cid})
    engine = create_async_engine(settings.app_url())
    try:
        forged = (
            "INSERT INTO audit_log (tenant_id, id, seq, principal_kind, operation, prev_hash, hash) "
            "VALUES (app_current_tenant(), gen_random_uuid(), 999, 'member', 'read', '', '')"
        )
        for stmt in ("UPDATE audit_log SET fields = '{}'", "DELETE FROM audit_log", forged):
            async with engine.connect() as conn:
                with pytest.raises(DBAPIError, match="permission denied"):
                    async with conn.begin():
                        await conn.execute(
                            text("SELECT set_config('app.tenant_id', :t, true)"),
                            {"t": str(tenant.tenant_id)},
                        )
                        await conn.execute(text(stmt))
    finally:
        await engine.dispose()


CHAIN = "{ auditChain { intact firstBrokenSeq } }"


async def test_hash_chain_verifies_and_detects_tampering(api, new_tenant, owner_url, owner_engine):
    tenant, other = await new_tenant(), await new_tenant()
    cid = encode_id("Contact", await make_full_contact(owner_url, tenant.tenant_id))
    other_cid = encode_id("Contact", await make_full_contact(owner_url, other.tenant_id))
    for _ in range(3):
        await api(tenant.token)(READ, {"id": cid})
        await api(other.token)(READ, {"id": other_cid})
    assert (await api(tenant.token)(CHAIN))["data"]["auditChain"] == {
        "intact": True,
        "firstBrokenSeq": None,
    }
    seqs = sorted(e["seq"] for e in await _entries(api, tenant.token, cid))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    # a superuser edits one entry behind the triggers' back
    async with owner_engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(
            text("UPDATE audit_log SET fields = '{email}' WHERE tenant_id = :t AND seq = :s"),
            {"t": tenant.tenant_id, "s": seqs[1]},
        )
    assert (await api(tenant.token)(CHAIN))["data"]["auditChain"] == {
        "intact": False,
        "firstBrokenSeq": seqs[1],
    }
    # the other tenant's chain is its own, and intact
    assert (await api(other.token)(CHAIN))["data"]["auditChain"]["intact"] is True

    # removing the newest entry is caught too (the chain head remembers it)
    async with owner_engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        last = await conn.scalar(
            text("SELECT max(seq) FROM audit_log WHERE tenant_id = :t"), {"t": other.tenant_id}
        )
        await conn.execute(
            text("DELETE FROM audit_log WHERE tenant_id = :t AND seq = :s"),
            {"t": other.tenant_id, "s": last},
        )
    assert (await api(other.token)(CHAIN))["data"]["auditChain"]["intact"] is False


async def test_only_owners_and_privacy_officers_read_the_log(api, new_tenant, new_member):
    tenant = await new_tenant()
    for role, allowed in (
        ("privacy_officer", True),
        ("admin", False),
        ("editor", False),
        ("viewer", False),
    ):
        token = (await new_member(tenant.tenant_id, role)).token
        result = await api(token)(LOG, {"s": None, "op": None})
        assert (error_codes(result) == []) is allowed, role


async def test_a_listing_is_one_entry_naming_every_contact(api, new_tenant, owner_url):
    from tests.factories import make_contacts

    tenant = await new_tenant()
    ids = await make_contacts(owner_url, tenant.tenant_id, 30)
    await api(tenant.token)("{ contacts(first: 30) { edges { node { email fullName } } } }")
    entries = await _entries(api, tenant.token, None)
    listing = [e for e in entries if e["fields"] == ["email", "fullName"]]
    assert len(listing) == 1
    assert sorted(listing[0]["subjectContactIds"]) == sorted(encode_id("Contact", i) for i in ids)
    # each contact finds the entry by its own id
    assert [e["seq"] for e in await _entries(api, tenant.token, encode_id("Contact", ids[7]))] == [
        listing[0]["seq"]
    ]


_NAMES = st.sampled_from(["email", "fullName", "company", "phone", ""])
_ITEMS = st.lists(
    st.tuples(
        st.sampled_from(["a1", "b2", "c3", "d4", "", "e|5"]),
        st.lists(_NAMES, max_size=4),
        st.booleans(),  # with its `|`, or an item without one
    ),
    max_size=12,
)


@given(st.lists(_ITEMS, min_size=1, max_size=3))
def test_the_lanes_entries_are_the_buffers(parts_items) -> None:
    """`read_entries` (the fast lane's) makes the entries `AuditBuffer` makes of the same
    audit items: same groups, fields and subjects in the same order, or none."""
    parts = [
        ";".join(f"{s}|{','.join(f)}" if bar else s for s, f, bar in items) for items in parts_items
    ]
    buffer = AuditBuffer(Principal(kind="member"), "request")
    for part in parts:
        buffer.read_items(part)
    expected = orjson.dumps(buffer.grouped()).decode() if buffer else None
    assert read_entries(parts) == expected
