"""Contacts open their spaces: the invitation link, visitor sessions, their consent.

Invariants:
- the invitation e-mail carries a signed, expiring link; its GET only shows a page (a mail
  scanner's fetch accepts nothing and opens nothing); the page's POST accepts the invitation
  (ACCEPTED with acceptedAt) and opens the access's one visitor session;
- opening the link again hands out a new secret for that same session, never a second one;
- an expired, forged or revoked link gets a clear error and opens nothing; revoking the
  access revokes its session; after a re-invitation the earlier link stays dead
  (INVITATION_SUPERSEDED) and the new one opens the same session again;
- a visitor reads the published spaces shared with them; a draft, a space not shared with
  them and a random ID answer the same NOT_FOUND; of contacts they see only themselves,
  with their personal fields redacted;
- a visitor reads and changes their own consent, no one else's; usage is recorded only
  under their analytics consent;
- a visitor runs trusted documents only.
"""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from core.db import owner_db
from core.ids import encode_id
from microspace.commands.widget_admin import set_tenant_web
from microspace.jobs.worker import run
from models import OutboxMessage, UsageEvent
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_spaces, publish
from tests.widgets import (
    PersistedApi,
    current_invitation_token,
    invitation_token,
    open_visitor,
)

INVITE = """mutation($s: ID!, $ids: [ID!]!) { spaceInvite(input: {spaceId: $s, contactIds: $ids}) {
  userErrors { code } } }"""
ACCESS = """query($c: ID!) { contact(id: $c) { spaces { edges { node { state acceptedAt } } } } }"""
SPACE = "query($id: ID!) { space(id: $id) { id title blocks { edges { node { id } } } } }"
CONTACT = "query($id: ID!) { contact(id: $id) { id email fullName consents { purpose granted } } }"
CONTACTS = "{ contacts(first: 50) { edges { node { id } } } }"
GRANT = """mutation($c: ID!, $p: ConsentPurpose!) { consentGrant(input: {contactId: $c, purpose: $p,
  policyVersion: "v1", source: WIDGET}) { consent { purpose granted } userErrors { code } } }"""
WITHDRAW = """mutation($c: ID!, $p: ConsentPurpose!) { consentWithdraw(input: {contactId: $c,
  purpose: $p, source: WIDGET}) { consent { purpose granted } userErrors { code } } }"""
USAGE = """mutation($c: ID!, $s: ID!) { usageRecord(input: {contactId: $c, spaceId: $s}) {
  recorded userErrors { code } } }"""


async def _world(new_tenant, owner_url):
    """A tenant with a published space shared with Jane, a shared draft, an unshared space,
    and a second contact."""
    t = await new_tenant("V")
    shared, draft, unshared = [
        (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=1, status=s))[0]
        for s in ("published", "draft", "published")
    ]
    jane, other = await make_contacts(owner_url, t.tenant_id, 2)
    await make_access(owner_url, t.tenant_id, shared, [jane])
    await make_access(owner_url, t.tenant_id, draft, [jane])
    await make_access(owner_url, t.tenant_id, unshared, [other])
    return t, {"shared": shared, "draft": draft, "unshared": unshared}, jane, other


async def _usage(owner_url, tenant_id) -> int:
    async with owner_db(owner_url, tenant_id) as db:
        return int(await db.scalar(select(func.count()).select_from(UsageEvent)))


async def test_the_invitation_email_link_accepts_and_opens_a_session(
    api, client, new_tenant, owner_url, settings, tmp_path
):
    # given an invitation sent by the worker
    t, _spaces, jane, _ = await _world(new_tenant, owner_url)
    space = (await make_spaces(owner_url, t.tenant_id, 1, status="published"))[0]
    owner = api(t.token)
    await owner(INVITE, {"s": encode_id("Space", space), "ids": [encode_id("Contact", jane)]})
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    async with owner_db(owner_url, t.tenant_id) as db:
        row = await db.scalar(select(OutboxMessage).where(OutboxMessage.space_id == space))
    message = email.message_from_string(
        (Path(tmp_path) / f"{row.id}.eml").read_text(), policy=email.policy.default
    )
    link = re.search(r"(https?://\S+/invitations/(\S+))", message.get_content())
    assert link, message.get_content()
    assert link.group(1).startswith(settings.with_public_url().public_url + "/invitations/")
    assert "link" not in row.payload  # signed at send time, never stored

    # when the contact opens it: the page, then its button
    page = await client.get(f"/invitations/{link.group(2)}")
    assert page.status_code == 200 and '<form method="post"' in page.text, page.text
    opened = await client.post(f"/invitations/{link.group(2)}")

    # then the invitation is accepted, once, and a visitor session opens
    assert opened.status_code == 200, opened.text
    session = opened.json()
    assert session["visitorToken"].startswith("msv_")
    assert session["contactId"] == encode_id("Contact", jane)
    assert opened.headers["cache-control"] == "no-store"
    access = await owner(ACCESS, {"c": encode_id("Contact", jane)})
    states = {
        (e["node"]["state"], e["node"]["acceptedAt"] is not None)
        for e in access["data"]["contact"]["spaces"]["edges"]
    }
    assert ("ACCEPTED", True) in states
    viewer = await api(session["visitorToken"])("{ viewer { kind contactId } }")
    assert error_codes(viewer) == ["PERSISTED_QUERY_REQUIRED"]


async def test_the_link_redirects_to_the_tenants_widget_page(
    client, new_tenant, owner_url, settings
):
    t, spaces, jane, _ = await _world(new_tenant, owner_url)
    await set_tenant_web(owner_url, str(t.tenant_id), None, "https://shop.example/portal")
    token = await current_invitation_token(
        client, settings.secret(), t.tenant_id, spaces["shared"], jane
    )
    response = await client.post(f"/invitations/{token}")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("https://shop.example/portal#microspace-visitorToken=msv_")
    assert "microspace-contactId=" in location


async def test_expired_forged_and_revoked_links_open_nothing(
    api, client, new_tenant, owner_url, settings
):
    t, spaces, jane, other = await _world(new_tenant, owner_url)
    secret = settings.secret()
    expired = invitation_token(secret, t.tenant_id, spaces["shared"], jane, seconds=-1)
    genuine = invitation_token(secret, t.tenant_id, spaces["shared"], jane)
    forged = genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB")
    other_key = invitation_token(b"another secret", t.tenant_id, spaces["shared"], jane)
    not_invited = invitation_token(secret, t.tenant_id, spaces["shared"], other)

    cases = [
        (expired, 410, "INVITATION_LINK_EXPIRED"),
        (forged, 404, "INVITATION_LINK_INVALID"),
        (other_key, 404, "INVITATION_LINK_INVALID"),
        ("not-a-token", 404, "INVITATION_LINK_INVALID"),
        (not_invited, 410, "INVITATION_REVOKED"),
    ]
    for token, status, code in cases:
        for response in (
            await client.get(f"/invitations/{token}"),
            await client.post(f"/invitations/{token}"),
        ):
            assert response.status_code == status, (code, response.text)
            assert error_codes(response.json()) == [code]
    access = await api(t.token)(ACCESS, {"c": encode_id("Contact", jane)})
    assert {e["node"]["state"] for e in access["data"]["contact"]["spaces"]["edges"]} == {"INVITED"}


async def test_visitor_reads_their_published_spaces_only(
    api, client, new_tenant, owner_url, settings
):
    t, spaces, jane, _other = await _world(new_tenant, owner_url)
    session = await open_visitor(client, settings.secret(), t.tenant_id, spaces["shared"], jane)
    visitor = PersistedApi(client, session["visitorToken"], api(t.token))

    shown = await visitor(SPACE, {"id": encode_id("Space", spaces["shared"])})
    assert len(shown["data"]["space"]["blocks"]["edges"]) == 1
    random = await visitor(SPACE, {"id": encode_id("Space", uuid.uuid4())})
    for hidden in ("draft", "unshared"):
        result = await visitor(SPACE, {"id": encode_id("Space", spaces[hidden])})
        assert error_codes(result) == ["NOT_FOUND"]
        assert result["errors"][0]["message"] == random["errors"][0]["message"]


async def test_visitor_sees_nothing_of_other_contacts(api, client, new_tenant, owner_url, settings):
    t, spaces, jane, other = await _world(new_tenant, owner_url)
    session = await open_visitor(client, settings.secret(), t.tenant_id, spaces["shared"], jane)
    visitor = PersistedApi(client, session["visitorToken"], api(t.token))

    listed = await visitor(CONTACTS)
    assert [e["node"]["id"] for e in listed["data"]["contacts"]["edges"]] == [
        encode_id("Contact", jane)
    ]
    on_other = await visitor(CONTACT, {"id": encode_id("Contact", other)})
    on_random = await visitor(CONTACT, {"id": encode_id("Contact", uuid.uuid4())})
    assert error_codes(on_other) == ["NOT_FOUND"]
    assert on_other["errors"][0]["message"] == on_random["errors"][0]["message"]
    own = await visitor(CONTACT, {"id": encode_id("Contact", jane)})
    assert own["data"]["contact"]["email"] is None and own["data"]["contact"]["fullName"] is None
    granted = await visitor(GRANT, {"c": encode_id("Contact", other), "p": "ANALYTICS"})
    assert error_codes(granted) == ["NOT_FOUND"]


async def test_usage_is_recorded_only_under_the_visitors_analytics_consent(
    api, client, new_tenant, owner_url, settings
):
    t, spaces, jane, _ = await _world(new_tenant, owner_url)
    session = await open_visitor(client, settings.secret(), t.tenant_id, spaces["shared"], jane)
    visitor = PersistedApi(client, session["visitorToken"], api(t.token))
    me, space = session["contactId"], encode_id("Space", spaces["shared"])

    before = await visitor(USAGE, {"c": me, "s": space})
    assert before["data"]["usageRecord"]["userErrors"] == [{"code": "NO_CONSENT"}]
    assert await _usage(owner_url, t.tenant_id) == 0

    granted = await visitor(GRANT, {"c": me, "p": "ANALYTICS"})
    assert granted["data"]["consentGrant"]["consent"] == {"purpose": "ANALYTICS", "granted": True}
    assert (await visitor(USAGE, {"c": me, "s": space}))["data"]["usageRecord"]["recorded"]
    assert await _usage(owner_url, t.tenant_id) == 1
    # a space not shared with them: NOT_FOUND, nothing recorded
    hidden = await visitor(USAGE, {"c": me, "s": encode_id("Space", spaces["unshared"])})
    assert error_codes(hidden) == ["NOT_FOUND"]

    # withdrawing deletes what was recorded, and marketing is theirs to change too
    await visitor(WITHDRAW, {"c": me, "p": "ANALYTICS"})
    assert await _usage(owner_url, t.tenant_id) == 0
    marketing = await visitor(GRANT, {"c": me, "p": "MARKETING_EMAIL"})
    assert marketing["data"]["consentGrant"]["consent"]["granted"] is True
    mine = await visitor(CONTACT, {"id": me})
    assert {c["purpose"]: c["granted"] for c in mine["data"]["contact"]["consents"]}[
        "ANALYTICS"
    ] is False


async def test_a_visitors_download_is_recorded_only_under_their_analytics_consent(
    api, client, new_tenant, owner_url, settings
):
    from microspace.web.widget_documents import DOCUMENTS
    from tests.test_usage import _file_block

    t, spaces, jane, _ = await _world(new_tenant, owner_url)
    space = encode_id("Space", spaces["shared"])
    file = await _file_block(owner_url, t.tenant_id, space)
    await publish(owner_url, t.tenant_id, spaces["shared"])  # the block, as visitors see it
    session = await open_visitor(client, settings.secret(), t.tenant_id, spaces["shared"], jane)
    visitor = PersistedApi(client, session["visitorToken"], api(t.token))
    me = session["contactId"]
    # the widget's own document, as it sends it when a visitor opens a file
    record = DOCUMENTS["VisitorUsageRecord"]
    download = {"input": {"contactId": me, "spaceId": space, "blockId": file, "action": "DOWNLOAD"}}

    before = await visitor(record, download)
    assert before["data"]["usageRecord"]["userErrors"] == [
        {"code": "NO_CONSENT", "message": before["data"]["usageRecord"]["userErrors"][0]["message"]}
    ]
    assert await _usage(owner_url, t.tenant_id) == 0
    await visitor(GRANT, {"c": me, "p": "ANALYTICS"})
    assert (await visitor(record, download))["data"]["usageRecord"]["recorded"] is True
    async with owner_db(owner_url, t.tenant_id) as db:
        rows = (await db.execute(select(UsageEvent.action, UsageEvent.block_id))).all()
    assert [(a, encode_id("Block", b)) for a, b in rows] == [("download", file)]
    # another space's file: NOT_FOUND like a random ID, nothing recorded
    elsewhere = await _file_block(owner_url, t.tenant_id, encode_id("Space", spaces["unshared"]))
    hidden = {**download["input"], "blockId": elsewhere}
    assert error_codes(await visitor(record, {"input": hidden})) == ["NOT_FOUND"]
    await visitor(WITHDRAW, {"c": me, "p": "ANALYTICS"})
    assert await _usage(owner_url, t.tenant_id) == 0
