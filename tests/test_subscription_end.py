"""After the subscription ends, one rule on every path, through HTTP (docs/privacy.md "After
the subscription ends").

Invariants:
- reads work on the resolver path, the compiled path and the fast lane;
- writes answer `SUBSCRIPTION_ENDED` and write nothing: `spaceCreate` and `spaceUpdate` on
  the resolver path, `blockUpdate` the whole way and on the fast lane, even when the
  subscription ends between two lane writes, or ends by the clock with no write at all;
- the operations data-subject rights and the customer's exit need still work: subject
  requests (file, verify, process, reject), consent withdrawal (member, visitor, one-click
  link), API key revocation, account deletion (request and confirm);
- the worker cancels queued marketing e-mail of an ended tenant.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

from sqlalchemy import text

from core.ids import encode_id
from microspace.jobs.worker import run
from privacy.unsubscribe import sign
from schema.build import build_schema
from store.subscription_end import EXEMPT
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_space, make_spaces, mint_key
from tests.test_api_keys import REVOKE
from tests.widgets import REGISTER, PersistedApi, open_visitor, sha256

SPACE = """query Q($id: ID!) { space(id: $id) { id title
    blocks(first: 20) { edges { node { id kind position body } } } } }"""
UPDATE = """mutation U($id: ID!, $body: JSON!) { blockUpdate(input: {id: $id, body: $body}) {
    block { id kind position body } userErrors { code message } } }"""
SPACE_UPDATE = """mutation S($id: ID!) { spaceUpdate(input: {id: $id, title: "Renamed"}) {
    space { id title } userErrors { code } } }"""
SPACE_CREATE = (
    'mutation { spaceCreate(input: {title: "New"}) { space { id } userErrors { code } } }'
)
# the resolver path: a read the compiler does not plan
PROFILE = "{ myProfile { email } }"
FILE = "mutation($e: String) { subjectAccessRequest(input: {email: $e}) { request { id state } userErrors { code } } }"
ERASE = "mutation($e: String) { subjectErasureRequest(input: {email: $e}) { request { id state } userErrors { code } } }"
VERIFY = "mutation($id: ID!, $a: String) { subjectRequestVerify(input: {id: $id, attestation: $a}) { request { state } userErrors { code } } }"
PROCESS = "mutation($id: ID!) { subjectRequestProcess(id: $id) { request { state } userErrors { code } } }"
REJECT = "mutation($id: ID!, $r: String!) { subjectRequestReject(input: {id: $id, reason: $r}) { request { state } userErrors { code } } }"
WITHDRAW = """mutation($c: ID!, $s: ConsentSource!) { consentWithdraw(input: {contactId: $c,
  purpose: MARKETING_EMAIL, source: $s}) { consent { granted } userErrors { code } } }"""
GRANT = """mutation($c: ID!) { consentGrant(input: {contactId: $c, purpose: MARKETING_EMAIL,
  source: API, policyVersion: "v1"}) { consent { granted } userErrors { code } } }"""
QUEUE = """mutation($ids: [ID!]!) { marketingEmailQueue(input: {contactIds: $ids,
  subject: "News", body: "News"}) { queuedCount userErrors { code } } }"""
DELETION = "mutation { accountDeletionRequest { ownersNotified } }"
CONFIRM = "mutation($c: String!) { accountDeletionConfirm(input: {code: $c}) { deleted userErrors { code } } }"


def lane(app):
    return app.state.fast_lane


async def _end(owner_engine, tenant_id, ends: str = "now() - interval '1 day'") -> None:
    """End the subscription as an operator or account deletion does: the tenant's row."""
    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                f"UPDATE tenants SET subscription_status = 'ended', subscription_ends_at = {ends} "
                "WHERE id = :t"
            ),
            {"t": tenant_id},
        )


async def _scalar(owner_engine, sql: str, tenant_id) -> object:
    async with owner_engine.connect() as conn:
        return await conn.scalar(text(sql), {"t": tenant_id})


def _ended(body: dict) -> None:
    assert error_codes(body) == ["SUBSCRIPTION_ENDED"], body
    message = body["errors"][0]["message"]
    assert "Reads and exports still work" in message and "purged on" in message
    assert body["errors"][0]["extensions"]["purgeAt"]


def test_every_exempt_operation_is_a_mutation():
    mutation = build_schema()._schema.mutation_type
    assert EXEMPT <= set(mutation.fields)
    assert {"spaceCreate", "blockUpdate", "consentGrant", "apiKeyCreate"}.isdisjoint(EXEMPT)


async def test_reads_stay_and_writes_are_refused_on_every_path(
    app, api, new_tenant, owner_url, owner_engine
):
    # given documents the fast lane knows: a read and a blockUpdate
    owner = await new_tenant("Ended")
    api_ = api(owner.token)
    space, blocks = await make_space(owner_url, owner.tenant_id, blocks=2)
    await api_(SPACE, {"id": space})
    await api_(UPDATE, {"id": blocks[0], "body": {"text": "before"}})
    answered = lane(app).answered
    await api_(SPACE, {"id": space})
    await api_(UPDATE, {"id": blocks[0], "body": {"text": "kept"}})
    assert lane(app).answered == answered + 2
    events = await _scalar(
        owner_engine, "SELECT count(*) FROM domain_events WHERE tenant_id = :t", owner.tenant_id
    )

    # when the subscription ends
    await _end(owner_engine, owner.tenant_id)

    # then reads work: the compiled path (the whole way: the lane's principal is stale), the
    # lane, the resolver path
    reads = lane(app).reads
    compiled, answered = reads.compiled, lane(app).answered
    whole = await api_(SPACE, {"id": space})
    assert reads.compiled == compiled + 1 and lane(app).answered == answered
    fast = await api_(SPACE, {"id": space})
    assert lane(app).answered == answered + 1
    assert whole == fast and len(fast["data"]["space"]["blocks"]["edges"]) == 2
    compiled = reads.compiled
    profile = await api_(PROFILE)
    assert "errors" not in profile and profile["data"]["myProfile"]["email"]
    assert reads.compiled == compiled  # the resolvers answered it

    # writes are refused on the resolver path
    _ended(await api_(SPACE_CREATE))
    _ended(await api_(SPACE_UPDATE, {"id": space}))
    _ended(await api_(SPACE_UPDATE, {"id": space}))
    # and blockUpdate: the lane's statement refuses, the whole way answers
    missed = lane(app).misses["answer"]
    _ended(await api_(UPDATE, {"id": blocks[0], "body": {"text": "after"}}))
    _ended(await api_(UPDATE, {"id": blocks[0], "body": {"text": "after"}}))
    assert lane(app).misses["answer"] == missed + 2  # the lane tried, wrote nothing
    assert lane(app).answered == answered + 1

    # nothing was written
    read = await api_(SPACE, {"id": space})
    assert read["data"]["space"]["title"] != "Renamed"
    assert read["data"]["space"]["blocks"]["edges"][0]["node"]["body"]["text"] == "kept"
    t = owner.tenant_id
    assert await _scalar(owner_engine, "SELECT count(*) FROM spaces WHERE tenant_id = :t", t) == 1
    assert (
        await _scalar(owner_engine, "SELECT count(*) FROM domain_events WHERE tenant_id = :t", t)
        == events
    )


async def test_an_end_between_two_lane_writes_stops_the_second(
    app, api, new_tenant, owner_url, owner_engine
):
    owner = await new_tenant("Between")
    api_ = api(owner.token)
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    await api_(UPDATE, {"id": blocks[0], "body": {"text": "one"}})
    answered = lane(app).answered
    await api_(UPDATE, {"id": blocks[0], "body": {"text": "two"}})
    assert lane(app).answered == answered + 1

    await _end(owner_engine, owner.tenant_id)

    _ended(await api_(UPDATE, {"id": blocks[0], "body": {"text": "three"}}))
    read = await api_("query($id: ID!) { block(id: $id) { body } }", {"id": blocks[0]})
    assert read["data"]["block"]["body"]["text"] == "two"


async def test_an_end_by_the_clock_stops_lane_writes(app, api, new_tenant, owner_url, owner_engine):
    # given a subscription that ends in two seconds, and a lane that writes until then
    owner = await new_tenant("Clock")
    api_ = api(owner.token)
    _, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    await _end(owner_engine, owner.tenant_id, "now() + interval '2 seconds'")
    await api_(UPDATE, {"id": blocks[0], "body": {"text": "one"}})
    answered = lane(app).answered
    await api_(UPDATE, {"id": blocks[0], "body": {"text": "two"}})
    assert lane(app).answered == answered + 1

    # when the date passes, with no write to the tenant's row
    await asyncio.sleep(2.2)

    # then the next write is refused, by the lane's statement and by the whole way
    _ended(await api_(UPDATE, {"id": blocks[0], "body": {"text": "three"}}))
    read = await api_("query($id: ID!) { block(id: $id) { body } }", {"id": blocks[0]})
    assert read["data"]["block"]["body"]["text"] == "two"


async def test_subject_rights_and_the_exit_still_work(
    api, client, new_tenant, owner_url, owner_engine, settings
):
    # given contacts with marketing consent, a visitor session and a partner key
    t = await new_tenant("Exit")
    owner = api(t.token)
    by_member, by_visitor, by_link, subject = await make_contacts(
        owner_url, t.tenant_id, 4, consents=("marketing_email",)
    )
    (space,) = await make_spaces(owner_url, t.tenant_id, 1, status="published")
    await make_access(owner_url, t.tenant_id, space, [by_visitor])
    session = await open_visitor(client, settings.secret(), t.tenant_id, space, by_visitor)
    visitor = PersistedApi(client, session["visitorToken"], owner)
    # the widget's documents are trusted before the end (registering is a write)
    await owner(REGISTER, {"input": {"document": WITHDRAW}})
    visitor.registered.add(sha256(WITHDRAW))
    key = (await owner("{ apiKeys { edges { node { id } } } }"))["data"]["apiKeys"]["edges"]
    assert key == []
    await mint_key(owner, "partner", ["spaces:read"])
    key_id = (await owner("{ apiKeys { edges { node { id } } } }"))["data"]["apiKeys"]["edges"][0][
        "node"
    ]["id"]
    email = await _scalar(
        owner_engine,
        f"SELECT email FROM contacts WHERE id = '{subject}' AND tenant_id = :t",
        t.tenant_id,
    )

    await _end(owner_engine, t.tenant_id)

    # writes that are not exempt are refused
    _ended(await owner(GRANT, {"c": encode_id("Contact", by_member)}))
    _ended(await owner(QUEUE, {"ids": [encode_id("Contact", by_member)]}))

    # subject requests: file, verify, process; file and reject
    filed = (await owner(FILE, {"e": email}))["data"]["subjectAccessRequest"]
    assert filed["userErrors"] == [] and filed["request"]["state"] == "VERIFYING"
    rid = filed["request"]["id"]
    verified = await owner(VERIFY, {"id": rid, "a": "passport seen"})
    assert verified["data"]["subjectRequestVerify"]["request"]["state"] == "VERIFIED", verified
    processed = await owner(PROCESS, {"id": rid})
    assert processed["data"]["subjectRequestProcess"]["request"]["state"] == "COMPLETED"
    other = (await owner(ERASE, {"e": email}))["data"]["subjectErasureRequest"]["request"]["id"]
    rejected = await owner(REJECT, {"id": other, "r": "duplicate"})
    assert rejected["data"]["subjectRequestReject"]["request"]["state"] == "REJECTED"

    # consent withdrawal: by a member, by the visitor, by the one-click link
    member = await owner(WITHDRAW, {"c": encode_id("Contact", by_member), "s": "API"})
    assert member["data"]["consentWithdraw"]["userErrors"] == [], member
    own = await visitor(WITHDRAW, {"c": session["contactId"], "s": "WIDGET"})
    assert own["data"]["consentWithdraw"]["userErrors"] == [], own
    token = sign(
        settings.secret(), tenant_id=t.tenant_id, contact_id=by_link, purpose="marketing_email"
    )
    clicked = await client.post(
        f"/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert clicked.status_code == 200
    withdrawn = await _scalar(
        owner_engine,
        "SELECT count(*) FROM consent_events WHERE tenant_id = :t AND action = 'withdrawn'",
        t.tenant_id,
    )
    assert withdrawn == 3

    # API key revocation
    revoked = await owner(REVOKE, {"id": key_id})
    assert revoked["data"]["apiKeyRevoke"]["apiKey"]["status"] == "REVOKED", revoked

    # account deletion: request, then confirm with the e-mailed code
    asked = await owner(DELETION)
    assert asked["data"]["accountDeletionRequest"]["ownersNotified"] == 1, asked
    code = await _scalar(
        owner_engine,
        "SELECT payload->>'code' FROM outbox WHERE tenant_id = :t AND payload ? 'code' "
        "AND kind = 'account_deletion'",
        t.tenant_id,
    )
    done = await owner(CONFIRM, {"c": code})
    assert done["data"]["accountDeletionConfirm"] == {"deleted": True, "userErrors": []}


async def test_queued_marketing_mail_is_cancelled_after_the_end(
    api, new_tenant, owner_url, owner_engine, settings, tmp_path
):
    t = await new_tenant("Mail")
    owner = api(t.token)
    (contact,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("marketing_email",))
    queued = await owner(QUEUE, {"ids": [encode_id("Contact", contact)]})
    assert queued["data"]["marketingEmailQueue"]["queuedCount"] == 1

    await _end(owner_engine, t.tenant_id)
    await run(replace(settings, mail_dir=str(tmp_path / uuid.uuid4().hex)), once=True)

    async with owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT status, last_error FROM outbox WHERE tenant_id = :t"),
                {"t": t.tenant_id},
            )
        ).all()
    assert [tuple(r) for r in rows] == [("cancelled", "subscription ended")]
