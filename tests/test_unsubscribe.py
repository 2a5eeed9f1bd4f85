"""One-click opt-out (RFC 8058), end to end: worker -> .eml -> link -> ledger -> next send.

Invariants:
- a marketing e-mail carries, in its raw bytes, `List-Unsubscribe: <https://...>` (never
  RFC 2047 encoded-words) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and the
  same link in its body; the SMTP sender sends the bytes the file sink holds;
- only a POST whose body is the form field `List-Unsubscribe=One-Click` (urlencoded or
  multipart), without any login, withdraws that contact's marketing consent in the ledger
  with source `one_click`, cancels queued marketing e-mail, and the next marketing e-mail is
  not sent; a second POST changes nothing;
- HEAD, GET, an empty POST, a POST of any other body and other methods change nothing (link
  scanners and mail gateways probe URLs); the GET page's form sends the one-click body;
- the token carries ids only (tenant, contact, purpose), and a changed character is refused;
- transactional e-mail (invitations, verification codes) carries no unsubscribe header.
"""

from __future__ import annotations

import base64
import json
import re
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from email import message_from_bytes
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

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


class _Form(HTMLParser):
    """The first form of a page: method, action, enctype and the fields it submits."""

    def __init__(self) -> None:
        super().__init__()
        self.form: dict = {}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form" and not self.form:
            self.form = {**a, "fields": []}
        elif tag in ("input", "button") and a.get("name") is not None:
            self.form["fields"].append((a["name"], a.get("value") or ""))


def _form(page: str) -> dict:
    parser = _Form()
    parser.feed(page)
    return parser.form


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
    raw = (tmp_path / f"{first.id}.eml").read_bytes()
    mail = _eml(tmp_path, first.id)

    # then its raw bytes carry the RFC 8058 headers as written, not RFC 2047 encoded-words
    # (a parser would decode those again), and a visible link, all the same https URL
    found = re.search(rb"\r\nList-Unsubscribe: <(https://[^>\s]+)>\r\n", raw)
    assert found, raw.split(b"\r\n\r\n")[0]
    url = found.group(1).decode()
    assert re.fullmatch(r"https://api\.microspace\.example/unsubscribe/[\w-]+\.[\w-]+", url)
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert b"=?" not in raw.split(b"\r\n\r\n")[0]
    assert mail["List-Unsubscribe"] == f"<{url}>"
    assert url in mail.get_content()
    # the token names ids only: no address, no name
    token = urlsplit(url).path.rsplit("/", 1)[1]
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert set(payload) == {"v", "t", "c", "p"}
    assert payload["c"] == str(cid) and payload["t"] == str(t.tenant_id)
    assert "@" not in base64.urlsafe_b64decode(token.split(".")[0] + "==").decode()

    # a second newsletter is queued before the contact clicks
    await owner(QUEUE, {"ids": [gid], "s": "Second"})

    # when a scanner's HEAD and GET, an empty POST and a POST of another body arrive
    path = urlsplit(url).path
    head = await client.head(path)
    page = await client.get(path)
    assert head.status_code == page.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == page.headers["content-length"]
    empty = await client.post(path)
    other = await client.post(path, data={"List-Unsubscribe": "One-Click", "also": "this"})
    assert empty.status_code == other.status_code == 400
    assert empty.json()["errors"][0]["extensions"]["code"] == "ONE_CLICK_BODY_REQUIRED"
    # then nothing is withdrawn
    assert await _ledger(owner_url, t.tenant_id, cid) == [("granted", "import")]

    # when the page's own button is pressed: its form sends the RFC 8058 body
    form = _form(page.text)
    assert form["method"] == "post" and form["action"] == path
    assert form["enctype"] == "application/x-www-form-urlencoded"
    assert urlencode(form["fields"]) == "List-Unsubscribe=One-Click"
    clicked = await client.post(
        path,
        content=urlencode(form["fields"]).encode(),
        headers={"Content-Type": form["enctype"]},
    )
    assert clicked.status_code == 200, clicked.text

    # then the ledger records the withdrawal with its source, once
    assert await _ledger(owner_url, t.tenant_id, cid) == [
        ("granted", "import"),
        ("withdrawn", "one_click"),
    ]
    again = await client.post(path, data={"List-Unsubscribe": "One-Click"})
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


async def test_only_the_rfc_8058_body_withdraws(client, new_tenant, owner_url, settings):
    from privacy.unsubscribe import sign

    # given a contact who granted marketing e-mail, and their link
    t = await new_tenant()
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    token = sign(
        settings.secret(), tenant_id=t.tenant_id, contact_id=cid, purpose="marketing_email"
    )
    path = f"/unsubscribe/{token}"

    # when bodies other than the one form field arrive, or other methods
    form = "application/x-www-form-urlencoded"
    refused = [
        await client.post(path, content=b"List-Unsubscribe=One-Click"),  # no content type
        await client.post(path, content=b"List-Unsubscribe=One-Click", headers=_type("text/plain")),
        await client.post(path, content=b"List-Unsubscribe=Yes", headers=_type(form)),
        await client.post(path, content=b"List-Unsubscribe=One-Click\n", headers=_type(form)),
        await client.post(path, json={"List-Unsubscribe": "One-Click"}),
        await client.post(path, files={"List-Unsubscribe": (None, "One-Click"), "x": (None, "")}),
    ]
    put = await client.put(path, content=b"List-Unsubscribe=One-Click", headers=_type(form))

    # then each is refused and nothing changes
    assert [r.status_code for r in refused] == [400] * len(refused)
    assert put.status_code == 405 and set(put.headers["allow"].split(", ")) == {
        "GET",
        "HEAD",
        "POST",
    }
    assert await _ledger(owner_url, t.tenant_id, cid) == [("granted", "import")]

    # when a mail provider posts the field as multipart/form-data (RFC 8058 3.2: SHOULD)
    clicked = await client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    assert clicked.status_code == 200, clicked.text
    assert clicked.request.headers["content-type"].startswith("multipart/form-data")
    # then it withdraws
    assert await _ledger(owner_url, t.tenant_id, cid) == [
        ("granted", "import"),
        ("withdrawn", "one_click"),
    ]


def _type(content_type: str) -> dict[str, str]:
    return {"Content-Type": content_type}


async def test_smtp_sends_the_bytes_the_file_sink_holds(settings, tmp_path, monkeypatch):
    # given a marketing e-mail with a long link (past the 78-character fold)
    import core.mail
    from core.mail import Email, FileSender, SmtpSender

    monkeypatch.setattr(core.mail, "formatdate", lambda **_: "Mon, 01 Jun 2026 12:00:00 -0000")
    url = "https://api.microspace.example/unsubscribe/" + "A" * 200 + "." + "B" * 43
    email = Email(
        key="0f0e",
        to="contact@example.com",
        subject="News",
        body="Hello\n",
        sender="Microspace <mail@microspace.example>",
        headers=(
            ("List-Unsubscribe", f"<{url}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )
    # when the file sink and the SMTP sender both deliver it
    await FileSender(tmp_path).send(email)
    with _smtp_server() as (port, received):
        smtp = replace(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
        await SmtpSender(smtp).send(email)

    # then the server received exactly the bytes of the file, header on one line as written
    held = (tmp_path / "0f0e.eml").read_bytes()
    assert received == [held]
    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in held


@contextmanager
def _smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    """A minimal SMTP server on a free port that keeps each message's DATA, unstuffed."""
    received: list[bytes] = []

    class Session(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 test\r\n")
            while line := self.rfile.readline():
                verb = line[:4].upper()
                if verb == b"DATA":
                    self.wfile.write(b"354 go\r\n")
                    lines = []
                    while (data := self.rfile.readline()) != b".\r\n":
                        lines.append(data[1:] if data.startswith(b"..") else data)
                    received.append(b"".join(lines))
                if verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                self.wfile.write(b"250 ok\r\n")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1], received
        finally:
            server.shutdown()
