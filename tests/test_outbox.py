"""The e-mail outbox and its worker.

Invariants guarded here:
- e-mail is queued in the transaction of the change that causes it, and sent by the worker
  (file sink here), once, and recorded per contact;
- a crash between claim and send loses nothing: the e-mail is sent when the worker runs again;
- a failing sender is retried with backoff, then dead-lettered;
- revoked access cancels the queued e-mail about the space.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from core.db import owner_db
from core.ids import encode_id
from core.mail import Email
from microspace.jobs.worker import run
from models import EmailSent, OutboxMessage
from tests.factories import make_contacts, make_space

ROOT = Path(__file__).resolve().parent.parent
INVITE = """
mutation($s: ID!, $ids: [ID!]!, $m: String) {
  spaceInvite(input: {spaceId: $s, contactIds: $ids, message: $m}) {
    spaceAccesses { id state contact { email } space { title } }
    userErrors { code }
  }
}"""


async def _outbox(owner_url, tenant_id) -> list[OutboxMessage]:
    async with owner_db(owner_url, tenant_id) as db:
        return list(await db.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


async def _sent(owner_url, tenant_id) -> list[EmailSent]:
    async with owner_db(owner_url, tenant_id) as db:
        return list(await db.scalars(select(EmailSent)))


async def _invite_one(api, t, owner_url) -> tuple[uuid.UUID, str]:
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, full_name="Mary Major")
    space, _ = await make_space(owner_url, t.tenant_id)
    result = await api(t.token)(
        INVITE, {"s": space, "ids": [encode_id("Contact", cid)], "m": "See you there"}
    )
    assert result["data"]["spaceInvite"]["userErrors"] == []
    return cid, space


async def test_invitations_are_queued_and_sent_to_the_file_sink(
    api, new_tenant, owner_url, settings, tmp_path
):
    # given: two contacts invited in one mutation
    t = await new_tenant()
    owner = api(t.token)
    ids = await make_contacts(owner_url, t.tenant_id, 2, full_name="Erika Mustermann")
    space, _ = await make_space(owner_url, t.tenant_id)
    result = await owner(
        INVITE, {"s": space, "ids": [encode_id("Contact", c) for c in ids], "m": "Welcome!"}
    )
    accesses = result["data"]["spaceInvite"]["spaceAccesses"]
    assert [a["state"] for a in accesses] == ["INVITED", "INVITED"]
    assert [r.status for r in await _outbox(owner_url, t.tenant_id)] == ["pending", "pending"]
    # inviting again sends no second invitation
    await owner(INVITE, {"s": space, "ids": [encode_id("Contact", ids[0])]})
    assert len(await _outbox(owner_url, t.tenant_id)) == 2
    # when
    stats = await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    # then
    assert stats.sent >= 2
    rows = await _outbox(owner_url, t.tenant_id)
    assert [r.status for r in rows] == ["sent", "sent"]
    sent = await _sent(owner_url, t.tenant_id)
    assert sorted(s.contact_id for s in sent) == sorted(ids)
    for row in rows:
        text = (Path(tmp_path) / f"{row.id}.eml").read_text()
        assert "Subject: You are invited to Space 0" in text
        assert "Hello Erika Mustermann" in text and "Welcome!" in text
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    assert len(await _sent(owner_url, t.tenant_id)) == 2  # nothing sent twice
    # the access is visible from both sides
    view = await owner(
        "query($s: ID!) { space(id: $s) { contacts { totalCount edges { node { state } } } } }",
        {"s": space},
    )
    assert view["data"]["space"]["contacts"]["totalCount"] == 2


CRASHING_WORKER = """
import asyncio, os
from core.config import load_settings
from microspace.jobs.worker import run

class Crash:
    async def send(self, email):
        os._exit(3)  # the process dies after claiming the row, before the e-mail is out

asyncio.run(run(load_settings(), once=True, sender=Crash()))
"""


async def _subprocess(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode() + err.decode()


async def _wait_until_unlocked(owner_url, tenant_id, outbox_id) -> None:
    """The dead worker's backend ends its transaction a moment after the process exits."""
    for _ in range(100):
        try:
            async with owner_db(owner_url, tenant_id) as db:
                await db.scalar(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.id == outbox_id)
                    .with_for_update(nowait=True)
                )
            return
        except DBAPIError:
            await asyncio.sleep(0.05)
    raise AssertionError("the crashed worker's lock was never released")


async def test_a_crash_between_claim_and_send_loses_nothing(
    api, new_tenant, owner_url, settings, tmp_path
):
    # given: one queued invitation
    t = await new_tenant()
    cid, _ = await _invite_one(api, t, owner_url)
    (row,) = await _outbox(owner_url, t.tenant_id)
    env = {
        "DATABASE_URL": settings.database_url,
        "MICROSPACE_MAIL_DIR": str(tmp_path),
        # the worker signs invitation links with the API's key
        "MICROSPACE_SECRET_KEY": settings.secret_key,
        "MICROSPACE_PUBLIC_URL": "https://api.test.example",
    }
    # when: a worker claims it and dies before sending
    code, output = await _subprocess(sys.executable, "-c", CRASHING_WORKER, env=env)
    assert code == 3, output
    # then: nothing was sent or recorded, and the row is pending as before
    await _wait_until_unlocked(owner_url, t.tenant_id, row.id)
    (after,) = await _outbox(owner_url, t.tenant_id)
    assert (after.status, after.attempts) == ("pending", 0)
    assert await _sent(owner_url, t.tenant_id) == []
    # when: the worker command runs again, it is sent
    code, output = await _subprocess(sys.executable, "server.py", "worker", "--once", env=env)
    assert code == 0, output
    assert json.loads(output.strip().splitlines()[-1])["sent"] >= 1
    (done,) = await _outbox(owner_url, t.tenant_id)
    assert done.status == "sent"
    assert (Path(tmp_path) / f"{row.id}.eml").exists()
    assert [s.contact_id for s in await _sent(owner_url, t.tenant_id)] == [cid]


class FailingSender:
    def __init__(self) -> None:
        self.calls = 0

    async def send(self, email: Email) -> None:
        self.calls += 1
        raise ConnectionRefusedError("smtp unreachable")


async def test_a_failing_sender_is_retried_with_backoff_then_dead_lettered(
    api, new_tenant, owner_url, settings
):
    t = await new_tenant()
    await _invite_one(api, t, owner_url)
    config = replace(settings, outbox_max_attempts=2, outbox_backoff_seconds=60)
    sender = FailingSender()
    # first failure: pending again, not due before the backoff
    stats = await run(config, once=True, sender=sender)
    assert stats.retried >= 1
    (row,) = await _outbox(owner_url, t.tenant_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > row.created_at
    assert "smtp unreachable" in row.last_error
    await run(config, once=True, sender=sender)
    (again,) = await _outbox(owner_url, t.tenant_id)
    assert (again.status, again.attempts) == ("pending", 1)  # backing off: not tried again yet
    # once due, the last allowed attempt fails and the row is dead-lettered
    async with owner_db(owner_url, t.tenant_id) as db:
        await db.execute(update(OutboxMessage).values(next_attempt_at=row.created_at))
    await run(config, once=True, sender=sender)
    (row,) = await _outbox(owner_url, t.tenant_id)
    assert (row.status, row.attempts) == ("dead", 2)
    assert await _sent(owner_url, t.tenant_id) == []


async def test_revoking_access_cancels_the_queued_invitation(
    api, new_tenant, owner_url, settings, tmp_path
):
    t = await new_tenant()
    owner = api(t.token)
    cid, space = await _invite_one(api, t, owner_url)
    listing = await owner(
        "query($c: ID!) { contact(id: $c) { spaces { edges { node { id state } } } } }",
        {"c": encode_id("Contact", cid)},
    )
    access = listing["data"]["contact"]["spaces"]["edges"][0]["node"]
    revoked = await owner(
        "mutation($id: ID!) { spaceAccessRevoke(id: $id) { spaceAccess { state revokedAt } } }",
        {"id": access["id"]},
    )
    assert revoked["data"]["spaceAccessRevoke"]["spaceAccess"]["state"] == "REVOKED"
    assert [r.status for r in await _outbox(owner_url, t.tenant_id)] == ["cancelled"]
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    assert [r.status for r in await _outbox(owner_url, t.tenant_id)] == ["cancelled"]
    assert await _sent(owner_url, t.tenant_id) == []
    # a space update notifies active contacts only
    notified = await owner(
        'mutation($s: ID!) { spaceNotify(input: {spaceId: $s, message: "New agenda"}) { queuedCount } }',
        {"s": space},
    )
    assert notified["data"]["spaceNotify"]["queuedCount"] == 0
    await owner(INVITE, {"s": space, "ids": [encode_id("Contact", cid)]})
    notified = await owner(
        'mutation($s: ID!) { spaceNotify(input: {spaceId: $s, message: "New agenda"}) { queuedCount } }',
        {"s": space},
    )
    assert notified["data"]["spaceNotify"]["queuedCount"] == 1
    stats = await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    assert stats.sent >= 2  # the new invitation and the update
    texts = [p.read_text() for p in Path(tmp_path).glob("*.eml")]
    assert any("has been updated" in t and "New agenda" in t for t in texts)


async def test_publishing_a_space_queues_space_updated_once(api, new_tenant, owner_url):
    from sqlalchemy import text

    from core.db import owner_db
    from core.ids import parse_id
    from tests.factories import make_access, make_contacts, make_space

    tenant = await new_tenant()
    space_gid, _ = await make_space(owner_url, tenant.tenant_id)
    contacts = await make_contacts(owner_url, tenant.tenant_id, 3)
    await make_access(owner_url, tenant.tenant_id, parse_id(space_gid)[1], contacts)
    publish = (
        "mutation($id: ID!) { spacePublish(id: $id) { space { status } userErrors { code } } }"
    )
    for _ in range(2):  # publishing again changes nothing and sends nothing
        result = await api(tenant.token)(publish, {"id": space_gid})
        assert result["data"]["spacePublish"]["space"]["status"] == "PUBLISHED"
    async with owner_db(owner_url, tenant.tenant_id) as db:
        queued = await db.scalar(
            text("SELECT count(*) FROM outbox WHERE tenant_id = :t AND kind = 'space_updated'"),
            {"t": tenant.tenant_id},
        )
    assert queued == 3
