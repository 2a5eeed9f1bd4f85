"""One-click opt-out (RFC 8058), end to end: worker -> .eml -> link -> ledger -> next send.

Invariants:
- a marketing e-mail carries `List-Unsubscribe` (an https URL) and
  `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and the same link in its body;
- a POST to the link, without any login, withdraws that contact's marketing consent in the
  ledger with source `one_click`, cancels queued marketing e-mail, and the next marketing
  e-mail is not sent; a second POST changes nothing;
- the token carries ids only (tenant, contact, purpose), and a changed character is refused;
- a GET never unsubscribes (link scanners fetch URLs);
- transactional e-mail (invitations, verification codes) carries no unsubscribe header.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from core.db import owner_db
from core.ids import encode_id
from microspace.jobs.worker import run
from models import ConsentEvent, OutboxMessage
from tests.factories import make_contacts, make_space

QUEUE = """mutation($ids: [ID!]!, $s: String!) {
  marketingEmailQueue(input: {contactIds: $ids, subject: $s, body: "News"}) {
    queuedCount skippedCount userErrors { code } } }"""
INVITE = """mutation($s: ID!, $ids: [ID!]!) {
  spaceInvite(input: {spaceId: $s, contactIds: $ids}) { userErrors { code } } }"""


def _eml(directory: Path, outbox_id) -> object:
    return message_from_bytes((directory / f"{outbox_id}.eml").read_bytes(), policy=default)


async def _outbox(owner_url, tenant_id) -> dict[str, OutboxMessage]:
    async with owner_db(owner_url, tenant_id) as db:
        rows = await db.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))
        return {r.payload.get("subject", r.kind) if r.payload else r.kind: r for r in rows}


async def _ledger(owner_url, tenant_id, cid) -> list[tuple[str, str]]:
    async with owner_db(owner_url, tenant_id) as db:
        rows = await db.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == cid, ConsentEvent.purpose == "marketing_email")
            .order_by(ConsentEvent.occurred_at)
        )
        return [(r.action, r.source) for r in rows]


async def test_one_click_unsubscribe_end_to_end(
    api, client, new_tenant, owner_url, settings, tmp_path
):
    # given a contact who granted marketing e-mail, and a first newsletter sent by the worker
    t = await new_tenant()
    owner = api(t.token)
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    gid = encode_id("Contact", cid)
    queued = await owner(QUEUE, {"ids": [gid], "s": "First"})
    assert queued["data"]["marketingEmailQueue"]["queuedCount"] == 1
    worker_settings = replace(
        settings, mail_dir=str(tmp_path), public_url="https://api.microspace.example"
    )
    await run(worker_settings, once=True)
    first = (await _outbox(owner_url, t.tenant_id))["First"]
    assert first.status == "sent"
    mail = _eml(tmp_path, first.id)

    # then it carries the RFC 8058 headers and a visible link, all the same https URL
    header = mail["List-Unsubscribe"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(https://api\.microspace\.example/unsubscribe/[^>]+)>", header).group(1)
    assert url in mail.get_content()
    # the token names ids only: no address, no name
    token = urlsplit(url).path.rsplit("/", 1)[1]
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert set(payload) == {"v", "t", "c", "p"}
    assert payload["c"] == str(cid) and payload["t"] == str(t.tenant_id)
    assert "@" not in base64.urlsafe_b64decode(token.split(".")[0] + "==").decode()

    # a second newsletter is queued before the contact clicks
    await owner(QUEUE, {"ids": [gid], "s": "Second"})

    # when a GET (a link scanner) and then the one-click POST arrive, without any login
    path = urlsplit(url).path
    page = await client.get(path)
    assert page.status_code == 200 and "<form" in page.text
    assert await _ledger(owner_url, t.tenant_id, cid) == [("granted", "import")]
    clicked = await client.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert clicked.status_code == 200

    # then the ledger records the withdrawal with its source, once
    assert await _ledger(owner_url, t.tenant_id, cid) == [
        ("granted", "import"),
        ("withdrawn", "one_click"),
    ]
    again = await client.post(path, content=b"List-Unsubscribe=One-Click")
    assert again.status_code == 200
    assert len(await _ledger(owner_url, t.tenant_id, cid)) == 2
    # and the next marketing e-mail is not sent: the queued one is cancelled, a new one skipped
    await run(worker_settings, once=True)
    second = (await _outbox(owner_url, t.tenant_id))["Second"]
    assert second.status == "cancelled"
    assert not (tmp_path / f"{second.id}.eml").exists()
    third = await owner(QUEUE, {"ids": [gid], "s": "Third"})
    assert third["data"]["marketingEmailQueue"] == {
        "queuedCount": 0,
        "skippedCount": 1,
        "userErrors": [],
    }
    consents = await owner(
        "query($id: ID!) { contact(id: $id) { consents { purpose state source } } }", {"id": gid}
    )
    marketing = [
        c for c in consents["data"]["contact"]["consents"] if c["purpose"] == "MARKETING_EMAIL"
    ]
    assert marketing == [
        {"purpose": "MARKETING_EMAIL", "state": "WITHDRAWN", "source": "ONE_CLICK"}
    ]


async def test_tampered_or_foreign_links_change_nothing(client, new_tenant, owner_url, settings):
    from privacy.unsubscribe import sign

    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    good = sign(settings.secret(), tenant_id=t.tenant_id, contact_id=cid, purpose="marketing_email")
    forged = sign(b"another key", tenant_id=t.tenant_id, contact_id=cid, purpose="marketing_email")
    flipped = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    for token in (forged, flipped, "garbage", "a.b", "x" * 400):
        response = await client.post(f"/unsubscribe/{token}")
        assert response.status_code == 404, token
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await _ledger(owner_url, t.tenant_id, cid) == [("granted", "import")]


async def test_transactional_email_has_no_unsubscribe_header(
    api, new_tenant, owner_url, settings, tmp_path
):
    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    space, _ = await make_space(owner_url, t.tenant_id)
    await api(t.token)(INVITE, {"s": space, "ids": [encode_id("Contact", cid)]})
    officer_mail = await api(t.token)(
        "mutation($e: String!) { subjectAccessRequest(input: {email: $e}) { userErrors { code } } }",
        {"e": (await _contact_email(owner_url, t.tenant_id, cid))},
    )
    assert officer_mail["data"]["subjectAccessRequest"]["userErrors"] == []
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    rows = await _outbox(owner_url, t.tenant_id)
    kinds = {r.kind for r in rows.values()}
    assert kinds == {"space_invitation", "subject_verification"}
    for row in rows.values():
        mail = _eml(tmp_path, row.id)
        assert mail["List-Unsubscribe"] is None and mail["List-Unsubscribe-Post"] is None
        assert "/unsubscribe/" not in mail.get_content()


async def _contact_email(owner_url, tenant_id, cid) -> str:
    from models import Contact

    async with owner_db(owner_url, tenant_id) as db:
        return await db.scalar(select(Contact.email).where(Contact.id == cid))


async def test_members_cannot_record_the_one_click_source(api, new_tenant, owner_url):
    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    forged = await api(t.token)(
        """mutation($c: ID!) { consentWithdraw(input: {contactId: $c, purpose: MARKETING_EMAIL,
           source: ONE_CLICK}) { userErrors { code field } } }""",
        {"c": encode_id("Contact", cid)},
    )
    assert forged["data"]["consentWithdraw"]["userErrors"] == [
        {"code": "RESERVED_SOURCE", "field": ["source"]}
    ]
    assert await _ledger(owner_url, t.tenant_id, cid) == [("granted", "import")]


async def test_without_the_key_marketing_is_retried_never_sent_bare(
    api, new_tenant, owner_url, settings, tmp_path
):
    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    await api(t.token)(QUEUE, {"ids": [encode_id("Contact", cid)], "s": "Keyless"})
    await run(replace(settings, mail_dir=str(tmp_path), secret_key=None), once=True)
    row = (await _outbox(owner_url, t.tenant_id))["Keyless"]
    assert (row.status, row.attempts) == ("pending", 1)
    assert "MICROSPACE_SECRET_KEY" in row.last_error
    assert not (tmp_path / f"{row.id}.eml").exists()
