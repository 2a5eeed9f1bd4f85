"""Data-subject requests through HTTP: the state machine, its trail, due dates, correction,
and who may do what.

Invariants:
- every state change is in the request's trail, with the actor;
- due = received + 1 month; one extension of 2 months, with a reason; past due and open
  means overdue (listed by the `overdue` filter);
- verification needs the e-mailed code (or a member's attestation); a wrong code changes nothing;
- a correction is visible in the next read and audited by field name, never by value;
- a subject (magic-link token) files and sees requests about themself only.

Over 300 lines on purpose: one module per promise, with its matrix and its cases together.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from core.db import owner_db
from core.ids import encode_id
from models import OutboxMessage
from tests.conftest import error_codes
from tests.factories import make_full_contact, mint_key

FIELDS = "id kind state subjectEmail receivedAt dueAt extendedAt rejectionReason verifiedBy overdue matchedContactCount trail { fromState toState actorKind note }"
FILE = (
    "mutation($e: String) { %s(input: {email: $e}) { request { "
    + FIELDS
    + " } userErrors { code field message } } }"
)
VERIFY = "mutation($id: ID!, $t: String, $a: String) { subjectRequestVerify(input: {id: $id, token: $t, attestation: $a}) { request { state verifiedBy } userErrors { code } } }"
PROCESS = "mutation($id: ID!) { subjectRequestProcess(id: $id) { request { state completedAt trail { toState } } exportLink { url expiresAt } userErrors { code } } }"
REJECT = "mutation($id: ID!, $r: String!) { subjectRequestReject(input: {id: $id, reason: $r}) { request { state rejectionReason } userErrors { code } } }"
EXTEND = "mutation($id: ID!, $r: String!) { subjectRequestExtend(input: {id: $id, reason: $r}) { request { dueAt extendedAt state } userErrors { code } } }"


async def _contact_email(owner_url, tenant_id, contact_id) -> str:
    async with owner_db(owner_url, tenant_id) as db:
        return await db.scalar(text("SELECT email FROM contacts WHERE id = :c"), {"c": contact_id})


async def _code(owner_url, tenant_id) -> str:
    """The verification code, as the subject reads it in the e-mail."""
    async with owner_db(owner_url, tenant_id) as db:
        rows = await db.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "subject_verification")
        )
        return [r.payload["code"] for r in rows][-1]


async def test_access_request_lifecycle(api, new_tenant, new_member, owner_url):
    # given a contact and a privacy officer
    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    email = await _contact_email(owner_url, tenant.tenant_id, cid)
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)

    # when the officer files an access request with the address in another case
    filed = (await officer(FILE % "subjectAccessRequest", {"e": "  " + email.upper()}))["data"][
        "subjectAccessRequest"
    ]
    request = filed["request"]
    assert filed["userErrors"] == [] and request["state"] == "VERIFYING"
    assert request["subjectEmail"] == email and request["matchedContactCount"] == 1
    received = datetime.fromisoformat(request["receivedAt"])
    due = datetime.fromisoformat(request["dueAt"])
    assert (
        28 <= (due - received).days <= 31 and due.day == received.day or due.month != received.month
    )

    # a wrong code changes nothing; the e-mailed code verifies
    wrong = (await officer(VERIFY, {"id": request["id"], "t": "not-the-code"}))["data"][
        "subjectRequestVerify"
    ]
    assert [e["code"] for e in wrong["userErrors"]] == ["INVALID_TOKEN"]
    ok = (
        await officer(VERIFY, {"id": request["id"], "t": await _code(owner_url, tenant.tenant_id)})
    )["data"]["subjectRequestVerify"]
    assert ok["request"] == {"state": "VERIFIED", "verifiedBy": "token"}

    # then processing completes it with a download link
    done = (await officer(PROCESS, {"id": request["id"]}))["data"]["subjectRequestProcess"]
    assert done["request"]["state"] == "COMPLETED" and done["exportLink"]["url"].startswith(
        "/exports/"
    )
    trail = [t["toState"] for t in done["request"]["trail"]]
    assert trail == ["RECEIVED", "VERIFYING", "VERIFIED", "PROCESSING", "COMPLETED"]
    again = (await officer(PROCESS, {"id": request["id"]}))["data"]["subjectRequestProcess"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]


async def test_every_transition_names_its_actor(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    await make_full_contact(owner_url, tenant.tenant_id)
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    req = (await officer(FILE % "subjectErasureRequest", {"e": "nobody@example.com"}))["data"][
        "subjectErasureRequest"
    ]["request"]
    assert req["matchedContactCount"] == 0
    await officer(VERIFY, {"id": req["id"], "a": "Checked passport at the front desk"})
    rejected = (await officer(REJECT, {"id": req["id"], "r": "Duplicate of an earlier request"}))[
        "data"
    ]["subjectRequestReject"]
    assert rejected["request"] == {
        "state": "REJECTED",
        "rejectionReason": "Duplicate of an earlier request",
    }
    full = await officer(
        "query($id: ID!) { subjectRequest(id: $id) { trail { fromState toState actorKind note } } }",
        {"id": req["id"]},
    )
    trail = full["data"]["subjectRequest"]["trail"]
    assert [(t["fromState"], t["toState"]) for t in trail] == [
        (None, "RECEIVED"),
        ("RECEIVED", "VERIFYING"),
        ("VERIFYING", "VERIFIED"),
        ("VERIFIED", "REJECTED"),
    ]
    assert all(t["actorKind"] == "member" for t in trail)
    assert trail[2]["note"] == "Checked passport at the front desk"
    # a rejected request stays rejected
    assert [
        e["code"]
        for e in (await officer(VERIFY, {"id": req["id"], "a": "x"}))["data"][
            "subjectRequestVerify"
        ]["userErrors"]
    ] == ["INVALID_STATE"]


async def test_extension_once_and_overdue_listing(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    req = (await officer(FILE % "subjectAccessRequest", {"e": "late@example.com"}))["data"][
        "subjectAccessRequest"
    ]["request"]
    ext = (await officer(EXTEND, {"id": req["id"], "r": "Complex request across systems"}))["data"][
        "subjectRequestExtend"
    ]
    assert ext["userErrors"] == [] and ext["request"]["extendedAt"]
    assert (
        datetime.fromisoformat(ext["request"]["dueAt"]) - datetime.fromisoformat(req["dueAt"])
    ).days >= 59
    twice = (await officer(EXTEND, {"id": req["id"], "r": "again"}))["data"]["subjectRequestExtend"]
    assert [e["code"] for e in twice["userErrors"]] == ["ALREADY_EXTENDED"]

    # a request past its due date is overdue
    other = (await officer(FILE % "subjectAccessRequest", {"e": "older@example.com"}))["data"][
        "subjectAccessRequest"
    ]["request"]
    async with owner_db(owner_url, tenant.tenant_id) as db:
        await db.execute(
            text("UPDATE subject_requests SET received_at = :r, due_at = :d WHERE id = :id"),
            {
                "r": datetime.now(UTC) - timedelta(days=40),
                "d": datetime.now(UTC) - timedelta(days=9),
                "id": _uuid(other["id"]),
            },
        )
    listed = await officer(
        "{ subjectRequests(overdue: true) { totalCount edges { node { id overdue } } } }"
    )
    assert listed["data"]["subjectRequests"] == {
        "totalCount": 1,
        "edges": [{"node": {"id": other["id"], "overdue": True}}],
    }
    not_late = await officer("{ subjectRequests(overdue: false) { totalCount } }")
    assert not_late["data"]["subjectRequests"]["totalCount"] == 1


def _uuid(global_id: str) -> uuid.UUID:
    from core.ids import parse_id

    return parse_id(global_id)[1]


async def test_correction_is_applied_audited_and_visible(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    email = await _contact_email(owner_url, tenant.tenant_id, cid)
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    filed = await officer(
        'mutation($e: String) { subjectCorrectionRequest(input: {email: $e, changes: {phone: "+41 44 123 45 67", jobTitle: "COO"}}) { request { id } userErrors { code } } }',
        {"e": email},
    )
    rid = filed["data"]["subjectCorrectionRequest"]["request"]["id"]
    await officer(VERIFY, {"id": rid, "a": "Called back on the number on file"})
    done = (await officer(PROCESS, {"id": rid}))["data"]["subjectRequestProcess"]
    assert done["request"]["state"] == "COMPLETED"

    contact = (
        await officer(
            "query($id: ID!) { contact(id: $id) { phone jobTitle } }",
            {"id": encode_id("Contact", cid)},
        )
    )["data"]["contact"]
    assert contact == {"phone": "+41 44 123 45 67", "jobTitle": "COO"}
    log = await officer(
        "query($s: ID) { auditLog(subjectId: $s, operation: UPDATE) { edges { node { fields } } } }",
        {"s": encode_id("Contact", cid)},
    )
    assert [e["node"]["fields"] for e in log["data"]["auditLog"]["edges"]] == [
        ["phone", "jobTitle"]
    ]
    async with owner_db(owner_url, tenant.tenant_id) as db:
        t = {"t": tenant.tenant_id}
        event = (
            await db.execute(
                text(
                    "SELECT topic, payload::text FROM domain_events "
                    "WHERE tenant_id = :t AND topic LIKE 'contact.%'"
                ),
                t,
            )
        ).one()
        stored = await db.scalar(
            text("SELECT string_agg(a::text, '|') FROM audit_log a WHERE tenant_id = :t"), t
        )
        changes = await db.scalar(
            text("SELECT changes FROM subject_requests WHERE tenant_id = :t"), t
        )
    assert (
        event.topic == "contact.updated"
        and "jobTitle" in event.payload
        and "COO" not in event.payload
    )
    assert "123 45 67" not in stored and changes is None


async def test_bad_input_is_a_user_error(api, new_tenant, new_member):
    tenant = await new_tenant()
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    for email, code in (("not-an-email", "INVALID_EMAIL"), ("", "REQUIRED"), (None, "REQUIRED")):
        r = (await officer(FILE % "subjectAccessRequest", {"e": email}))["data"][
            "subjectAccessRequest"
        ]
        assert r["request"] is None and [e["code"] for e in r["userErrors"]] == [code]
    bad = await officer(
        'mutation { subjectCorrectionRequest(input: {email: "a@example.com", changes: {phone: "call me"}}) { request { id } userErrors { code field } } }'
    )
    assert bad["data"]["subjectCorrectionRequest"]["userErrors"] == [
        {"code": "INVALID_CHANGES", "field": ["changes.phone"]}
    ]
    assert (await officer("{ subjectRequests { totalCount } }"))["data"]["subjectRequests"][
        "totalCount"
    ] == 0


async def test_who_may_handle_requests(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    for role in ("viewer", "editor"):
        token = (await new_member(tenant.tenant_id, role)).token
        assert error_codes(
            await api(token)(FILE % "subjectAccessRequest", {"e": "a@example.com"})
        ) == ["FORBIDDEN"]
    dsr = await mint_key(api(tenant.token), "partner", ["dsr"])
    assert (await api(dsr)(FILE % "subjectAccessRequest", {"e": "a@example.com"}))["data"][
        "subjectAccessRequest"
    ]["userErrors"] == []


async def test_subject_files_and_sees_only_their_own(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    other = (await officer(FILE % "subjectAccessRequest", {"e": "someone-else@example.com"}))[
        "data"
    ]["subjectAccessRequest"]["request"]
    link = await officer(
        "mutation($c: ID!) { subjectLinkCreate(contactId: $c) { sent } }",
        {"c": encode_id("Contact", cid)},
    )
    assert link["data"]["subjectLinkCreate"]["sent"] is True
    # the token reaches the subject by e-mail, as the subject reads it there
    async with owner_db(owner_url, tenant.tenant_id) as db:
        rows = await db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "subject_link"))
        token = [r.payload["token"] for r in rows][-1]
    subject = api(token)

    own = (await subject(FILE % "subjectErasureRequest", {"e": None}))["data"][
        "subjectErasureRequest"
    ]
    assert own["userErrors"] == [] and own["request"]["matchedContactCount"] == 1
    mismatch = (await subject(FILE % "subjectErasureRequest", {"e": "someone-else@example.com"}))[
        "data"
    ]["subjectErasureRequest"]
    assert [e["code"] for e in mismatch["userErrors"]] == ["SUBJECT_MISMATCH"]

    listed = await subject("{ subjectRequests { edges { node { id } } } }")
    assert [e["node"]["id"] for e in listed["data"]["subjectRequests"]["edges"]] == [
        own["request"]["id"]
    ]
    assert error_codes(
        await subject("query($id: ID!) { subjectRequest(id: $id) { id } }", {"id": other["id"]})
    ) == ["NOT_FOUND"]
    # the subject verifies with the e-mailed code, not with an attestation, and cannot process
    assert error_codes(await subject(VERIFY, {"id": own["request"]["id"], "a": "it is me"})) == [
        "FORBIDDEN"
    ]
    ok = await subject(
        VERIFY, {"id": own["request"]["id"], "t": await _code(owner_url, tenant.tenant_id)}
    )
    assert ok["data"]["subjectRequestVerify"]["request"]["state"] == "VERIFIED"
    assert error_codes(await subject(PROCESS, {"id": own["request"]["id"]})) == ["FORBIDDEN"]
    # and reads nothing else of the tenant
    assert error_codes(await subject("{ contacts { totalCount } }")) == ["FORBIDDEN"]


async def test_the_code_reaches_the_subject_by_e_mail_and_then_leaves_the_outbox(
    api, new_tenant, new_member, owner_url, settings, tmp_path
):
    from dataclasses import replace
    from pathlib import Path

    from microspace.jobs.worker import run

    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    email = await _contact_email(owner_url, tenant.tenant_id, cid)
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    await officer(FILE % "subjectAccessRequest", {"e": email})
    code = await _code(owner_url, tenant.tenant_id)

    await run(replace(settings, mail_dir=str(tmp_path)), once=True)

    async with owner_db(owner_url, tenant.tenant_id) as db:
        (row,) = await db.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "subject_verification")
        )
    assert row.status == "sent" and row.payload == {}
    message = (Path(tmp_path) / f"{row.id}.eml").read_text()
    assert f"To: {email}" in message and code in message
