"""Members are data subjects too; sign-in records (HTTP, end to end).

Invariants:
- member and tenant-profile columns carry personal-data categories (name, e-mail, company,
  address, billing contact);
- a member sees, exports (JSON) and corrects their own profile; bad input changes nothing;
- a member leaves: profile erased, tokens revoked, sign-ins deleted, journalled; the last
  owner cannot leave; partner keys have no profile;
- each session start is recorded with time, user-agent family and a /24 or /48 network,
  never the raw address or user agent; members see their own; records appear in the
  member's export and the contact's export, and go when the worker's retention passes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from core.db import owner_db
from microspace.jobs.worker import sign_in_retention_once
from models import Base, SignIn
from privacy.sign_ins import truncated_network, user_agent_family
from tests.conftest import error_codes
from tests.factories import make_contacts, make_key

PROFILE = "{ myProfile { email role fullName company address } }"
UPDATE = """mutation($n: String, $c: String, $a: String) {
  memberProfileUpdate(input: {fullName: $n, company: $c, address: $a}) {
    profile { fullName company address } userErrors { code field } } }"""
LEAVE = "mutation { memberLeave { left userErrors { code } } }"
SIGN_INS = "{ mySignIns { occurredAt userAgentFamily network } }"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def test_member_and_tenant_profile_columns_are_personal():
    members = Base.metadata.tables["members"].columns
    profile = Base.metadata.tables["tenant_profiles"].columns
    assert {c.name: c.info.get("pii") for c in members if "pii" in c.info} == {
        "email": "user.contact.email",
        "full_name": "user.name",
        "company": "user.contact.organization",
        "address": "user.contact.address",
    }
    assert {c.name: c.info.get("pii") for c in profile if "pii" in c.info} == {
        "company_name": "user.contact.organization",
        "billing_contact_name": "user.name",
        "billing_email": "user.contact.email",
        "billing_address": "user.contact.address",
    }


async def test_member_sees_exports_and_corrects_their_profile(api, new_tenant, new_member):
    tenant = await new_tenant()
    editor = api((await new_member(tenant.tenant_id, "editor")).token)
    changed = await editor(
        UPDATE, {"n": " Ada Lovelace ", "c": "Analytical", "a": "1 Road\nLondon"}
    )
    assert changed["data"]["memberProfileUpdate"] == {
        "profile": {
            "fullName": "Ada Lovelace",
            "company": "Analytical",
            "address": "1 Road\nLondon",
        },
        "userErrors": [],
    }
    # bad input: typed errors, nothing written
    bad = await editor(UPDATE, {"n": "x" * 201, "c": "bad\u200bco"})
    assert [e["code"] for e in bad["data"]["memberProfileUpdate"]["userErrors"]] == [
        "TOO_LONG",
        "INVALID_CHARACTERS",
    ]
    profile = (await editor(PROFILE))["data"]["myProfile"]
    assert profile["fullName"] == "Ada Lovelace" and profile["role"] == "editor"
    # the export holds the profile, tokens (no secrets) and sign-ins
    exported = (await editor("{ myData }"))["data"]["myData"]
    assert exported["version"] == 1 and exported["kind"] == "member"
    assert exported["member"]["full_name"] == "Ada Lovelace"
    assert exported["member"]["email"] == profile["email"]
    assert len(exported["tokens"]) == 1 and "token_hash" not in str(exported)
    assert len(exported["sign_ins"]) == 1
    # clearing a field
    cleared = await editor(UPDATE, {"c": ""})
    assert cleared["data"]["memberProfileUpdate"]["profile"]["company"] is None


async def test_partner_keys_have_no_profile(api, new_tenant, owner_url):
    tenant = await new_tenant()
    key = await make_key(owner_url, tenant.tenant_id, "partner", ["spaces:read"])
    for query in (PROFILE, "{ myData }", SIGN_INS, LEAVE):
        assert error_codes(await api(key)(query)) == ["FORBIDDEN"], query


async def test_member_leaves_and_last_owner_cannot(api, new_tenant, new_member, owner_engine):
    tenant = await new_tenant()
    owner = api(tenant.token)
    refused = await owner(LEAVE)
    assert refused["data"]["memberLeave"] == {"left": False, "userErrors": [{"code": "LAST_OWNER"}]}

    second = await new_member(tenant.tenant_id, "owner")
    marker = f"MRK{uuid.uuid4().hex[:10]}"
    await api(second.token)(UPDATE, {"n": f"{marker} name", "c": f"{marker} co", "a": marker})
    left = await api(second.token)(LEAVE)
    assert left["data"]["memberLeave"] == {"left": True, "userErrors": []}
    # the token no longer works, and nothing of the member is left
    assert error_codes(await api(second.token)(PROFILE)) == ["UNAUTHENTICATED"]
    from tests.test_erasure import scan

    assert await scan(owner_engine, marker) == []
    async with owner_engine.connect() as conn:
        t = {"t": tenant.tenant_id, "m": second.member_id}
        assert (
            await conn.scalar(
                text("SELECT count(*) FROM sign_ins WHERE tenant_id = :t AND member_id = :m"), t
            )
            == 0
        )
        assert (
            await conn.scalar(
                text("SELECT kind FROM erasure_journal WHERE tenant_id = :t AND subject_id = :m"), t
            )
            == "member"
        )
        events = list(
            await conn.scalars(
                text(
                    "SELECT topic FROM domain_events WHERE tenant_id = :t AND topic LIKE 'member.%'"
                ),
                t,
            )
        )
    assert sorted(events) == ["member.left", "member.updated"]
    # now the first owner is the last one again
    assert (await owner(LEAVE))["data"]["memberLeave"]["userErrors"] == [{"code": "LAST_OWNER"}]


async def test_tenant_profile_is_for_owners(api, new_tenant, new_member):
    tenant = await new_tenant()
    viewer = api((await new_member(tenant.tenant_id, "viewer")).token)
    mutation = """mutation { tenantProfileUpdate(input: {companyName: "Initech",
      billingContactName: "Bill Lumbergh", billingEmail: " Bill@Initech.example ",
      billingAddress: "1 Initech Way"}) { profile { billingEmail } userErrors { code } } }"""
    assert error_codes(await viewer(mutation)) == ["FORBIDDEN"]
    done = await api(tenant.token)(mutation)
    assert done["data"]["tenantProfileUpdate"]["profile"] == {
        "billingEmail": "bill@initech.example"
    }
    exported = (await api(tenant.token)("{ myData }"))["data"]["myData"]
    assert exported["tenant_profile"]["billing_contact_name"] == "Bill Lumbergh"


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12:34::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("not an address", None),
    ],
)
def test_networks_are_truncated(address, network):
    assert truncated_network(address) == network


def test_user_agent_families():
    assert user_agent_family(CHROME) == "Chrome"
    assert (
        user_agent_family("Mozilla/5.0 (Windows NT 10.0) Gecko/20100101 Firefox/128.0") == "Firefox"
    )
    assert user_agent_family(None) is None


async def test_sign_ins_are_recorded_coarsely_and_expire(
    client, new_tenant, owner_url, owner_engine, settings
):
    # given a member who signs in from a browser
    tenant = await new_tenant()
    headers = {"Authorization": f"Bearer {tenant.token}", "User-Agent": CHROME}
    for _ in range(3):  # one session, however many requests
        response = await client.post("/graphql", json={"query": SIGN_INS}, headers=headers)
    seen = response.json()["data"]["mySignIns"]
    # then one record, with the family and the network only (the test client is 127.0.0.1)
    assert [(s["userAgentFamily"], s["network"]) for s in seen] == [("Chrome", "127.0.0.0/24")]
    async with owner_engine.connect() as conn:
        raw = await conn.execute(
            text("SELECT * FROM sign_ins WHERE tenant_id = :t"), {"t": tenant.tenant_id}
        )
        stored = " ".join(str(v) for row in raw for v in row)
    assert "127.0.0.1" not in stored and "537.36" not in stored and "Mozilla" not in stored

    # when the record is older than the retention period, the worker's retention removes it
    async with owner_db(owner_url, tenant.tenant_id) as db:
        await db.execute(update(SignIn).values(occurred_at=datetime.now(UTC) - timedelta(days=91)))
    assert await sign_in_retention_once(settings) >= 1
    async with owner_db(owner_url, tenant.tenant_id) as db:
        assert list(await db.scalars(select(SignIn))) == []


async def test_a_contacts_session_is_recorded_and_erased_with_them(
    api, client, new_tenant, new_member, owner_url, owner_engine
):
    from tests.test_erasure import _erase

    tenant = await new_tenant()
    (cid,) = await make_contacts(owner_url, tenant.tenant_id, 1)
    # the contact's own magic-link token (subjectLinkCreate e-mails it to them)
    from core.auth import new_token
    from models import ApiToken

    token, digest = new_token("subject")
    async with owner_db(owner_url, tenant.tenant_id) as db:
        db.add(ApiToken(id=uuid.uuid4(), kind="subject", contact_id=cid, token_hash=digest))
    headers = {"Authorization": f"Bearer {token}", "User-Agent": CHROME}
    await client.post("/graphql", json={"query": "{ viewer { kind } }"}, headers=headers)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        rows = list(await db.scalars(select(SignIn).where(SignIn.contact_id == cid)))
    assert [(r.user_agent_family, r.member_id) for r in rows] == [("Chrome", None)]
    # the contact's erasure takes their sign-ins with them
    officer = (await new_member(tenant.tenant_id, "privacy_officer")).token
    async with owner_db(owner_url, tenant.tenant_id) as db:
        from models import Contact

        email = await db.scalar(select(Contact.email).where(Contact.id == cid))
    await _erase(api, officer, email, "in person")
    async with owner_db(owner_url, tenant.tenant_id) as db:
        assert list(await db.scalars(select(SignIn).where(SignIn.contact_id == cid))) == []
