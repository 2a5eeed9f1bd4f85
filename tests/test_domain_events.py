"""Every mutation writes its domain event, in its own transaction.

Invariants:
- each mutation of the schema (but the short, commented list below) writes the events the
  table says, naming the object by global ID and the changed fields, never their values;
- a refused mutation (user error) writes none; an event commits in its change's transaction;
- an erasure writes `contact.erased`, a withdrawal `consent.withdrawn`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from core.db import owner_db
from models import EVENT_TYPES
from schema.build import build_schema

# mutations that write no domain event, and why
WITHOUT_EVENT = {
    # a replay of a delivery: no data changed (the audit log records it)
    "webhookDeliveryRetry",
    # trusting a document for the tenant's widgets: configuration, not data (audited)
    "persistedDocumentRegister",
    # a pending upload is not an asset yet: `asset.created` comes with its completion
    "assetUploadStart",
    # a preview link is a reading credential, like a visitor session: no data changed
    # (audited: preview_link_create, preview_link_revoke)
    "previewLinkCreate",
    "previewLinkRevoke",
    # a schedule changes no content: the publish it schedules writes `space.published` when
    # the worker carries it out (audited: space_schedule)
    "spaceSchedule",
    # a personalisation is a queued job: the worker writes `space.created`,
    # `space.published` and `access.granted` when it carries it out
    # (tests/test_templates.py::test_two_workers_carry_out_a_job_once_as_the_member_who_asked)
    "spacePersonalise",
}
# mutations that end the caller's own access, checked with their events where they are tested
COVERED_ELSEWHERE = {
    "memberLeave",  # tests/test_members.py::test_member_leaves_and_last_owner_cannot
    "accountDeletionConfirm",  # tests/test_account_deletion.py (an e-mailed code)
    # files need a multipart request or an upload: tests/test_files.py::test_asset_events
    "assetUpload",
    "assetUploadComplete",
    "assetDelete",
}


async def _topics(owner_url, tenant_id) -> list[tuple[str, dict]]:
    async with owner_db(owner_url, tenant_id) as db:
        rows = await db.execute(
            text(
                "SELECT topic, payload FROM domain_events WHERE tenant_id = :t "
                "ORDER BY created_at, topic"
            ),
            {"t": tenant_id},
        )
        return [(r.topic, r.payload) for r in rows]


class Script:
    """Runs mutations as the owner and checks the events each one added."""

    def __init__(self, owner, owner_url, tenant_id) -> None:
        self.owner, self.owner_url, self.tenant_id = owner, owner_url, tenant_id
        self.seen = 0
        self.covered: set[str] = set()
        self.values: list[str] = []

    async def run(self, name: str, query: str, variables: dict[str, Any], topics: list[str]) -> Any:
        result = await self.owner(query, variables)
        assert "errors" not in result, (name, result)
        data = result["data"][name]
        assert not data.get("userErrors"), (name, data)
        events = await _topics(self.owner_url, self.tenant_id)
        added = events[self.seen :]
        self.seen = len(events)
        assert sorted(t for t, _ in added) == sorted(topics), name
        for topic, payload in added:
            assert topic in EVENT_TYPES and payload["type"] == EVENT_TYPES[topic][0]
            # ids and field names only; a removed block names its space (microspace/live/)
            assert set(payload) <= {"type", "id", "fields", "actor", "space"} and payload["id"]
        self.covered.add(name)
        return data


TEMPLATE = 'mutation { spaceCreate(input: {title: "T", isTemplate: true}) { space { id } userErrors { code } } }'
M = {
    "spacePersonalise": "mutation($t: ID!, $c: ID!) { spacePersonalise(input: {templateId: $t, contactIds: [$c]}) { job { id } userErrors { code } } }",
    "spaceCreate": 'mutation { spaceCreate(input: {title: "Room"}) { space { id } userErrors { code } } }',
    "spaceUpdate": 'mutation($id: ID!) { spaceUpdate(input: {id: $id, title: "Room 2"}) { space { id } userErrors { code } } }',
    "spacePublish": "mutation($id: ID!) { spacePublish(id: $id) { space { id } userErrors { code } } }",
    "spaceUnpublish": "mutation($id: ID!) { spaceUnpublish(id: $id) { space { id } userErrors { code } } }",
    "spaceRestore": "mutation($id: ID!, $r: ID!) { spaceRestore(id: $id, revisionId: $r) { space { id } userErrors { code } } }",
    "spaceArchive": "mutation($id: ID!) { spaceArchive(id: $id) { space { id } userErrors { code } } }",
    "spaceUnarchive": "mutation($id: ID!) { spaceUnarchive(id: $id) { space { id } userErrors { code } } }",
    "spaceDelete": "mutation($id: ID!) { spaceDelete(id: $id) { deletedSpaceId userErrors { code } } }",
    "blockAdd": 'mutation($id: ID!) { blockAdd(input: {spaceId: $id, kind: HEADING, body: {text: "Hi"}}) { block { id } userErrors { code } } }',
    "blockUpdate": 'mutation($id: ID!) { blockUpdate(input: {id: $id, body: {text: "Ho"}}) { block { id } userErrors { code } } }',
    "blockMove": "mutation($id: ID!) { blockMove(input: {id: $id, position: 0}) { block { id } userErrors { code } } }",
    "contentLocalesUpdate": 'mutation { contentLocalesUpdate(input: {locales: ["en", "de"], defaultLocale: "en"}) { contentLocales { locales } userErrors { code } } }',
    "blockLocaleBodySet": 'mutation($id: ID!) { blockLocaleBodySet(input: {id: $id, locale: "de", content: {heading: {text: "Hallo"}}}) { block { id } userErrors { code } } }',
    "blockLocaleBodyClear": 'mutation($id: ID!) { blockLocaleBodyClear(input: {id: $id, locale: "de"}) { block { id } userErrors { code } } }',
    "blockRemove": "mutation($id: ID!) { blockRemove(id: $id) { deletedBlockId userErrors { code } } }",
    "contactCreate": 'mutation($e: String!) { contactCreate(input: {email: $e, fullName: "Ann Lee"}) { contact { id } userErrors { code } } }',
    "contactUpdate": 'mutation($id: ID!) { contactUpdate(input: {id: $id, company: "Initech"}) { contact { id } userErrors { code } } }',
    "contactDelete": "mutation($id: ID!) { contactDelete(id: $id) { deletedContactId userErrors { code } } }",
    "contactImport": "mutation($a: String!, $b: String!) { contactImport(input: {contacts: [{email: $a}, {email: $b}]}) { importedCount contacts { id } userErrors { code } } }",
    "spaceInvite": "mutation($s: ID!, $c: ID!) { spaceInvite(input: {spaceId: $s, contactIds: [$c]}) { spaceAccesses { id } userErrors { code } } }",
    "spaceAccessRevoke": "mutation($id: ID!) { spaceAccessRevoke(id: $id) { spaceAccess { id } userErrors { code } } }",
    "spaceNotify": 'mutation($s: ID!) { spaceNotify(input: {spaceId: $s, message: "New"}) { queuedCount userErrors { code } } }',
    "marketingEmailQueue": 'mutation($c: ID!) { marketingEmailQueue(input: {contactIds: [$c], subject: "S", body: "B"}) { queuedCount userErrors { code } } }',
    "consentGrant": 'mutation($c: ID!, $p: ConsentPurpose!) { consentGrant(input: {contactId: $c, purpose: $p, policyVersion: "v1"}) { event { id } userErrors { code } } }',
    "consentWithdraw": "mutation($c: ID!) { consentWithdraw(input: {contactId: $c, purpose: MARKETING_EMAIL}) { event { id } userErrors { code } } }",
    "usageRecord": "mutation($c: ID!, $s: ID!) { usageRecord(input: {contactId: $c, spaceId: $s}) { recorded userErrors { code } } }",
    "policyRuleSet": 'mutation { policyRuleSet(input: {subject: "viewer", object: "Contact.company", action: "read", effect: ALLOW}) { rule { id } userErrors { code } } }',
    "policyRuleRemove": "mutation($id: ID!) { policyRuleRemove(id: $id) { deletedRuleId } }",
    "subjectAccessRequest": "mutation($e: String) { subjectAccessRequest(input: {email: $e}) { request { id } userErrors { code } } }",
    "subjectPortabilityRequest": "mutation($e: String) { subjectPortabilityRequest(input: {email: $e}) { request { id } userErrors { code } } }",
    "subjectCorrectionRequest": 'mutation($e: String) { subjectCorrectionRequest(input: {email: $e, changes: {jobTitle: "CEO"}}) { request { id } userErrors { code } } }',
    "subjectErasureRequest": "mutation($e: String) { subjectErasureRequest(input: {email: $e}) { request { id } userErrors { code } } }",
    "subjectRequestVerify": 'mutation($id: ID!) { subjectRequestVerify(input: {id: $id, attestation: "Seen in person"}) { request { id } userErrors { code } } }',
    "subjectRequestProcess": "mutation($id: ID!) { subjectRequestProcess(id: $id) { request { id state } userErrors { code } } }",
    "subjectRequestReject": 'mutation($id: ID!) { subjectRequestReject(input: {id: $id, reason: "Duplicate"}) { request { id } userErrors { code } } }',
    "subjectRequestExtend": 'mutation($id: ID!) { subjectRequestExtend(input: {id: $id, reason: "Complex"}) { request { id } userErrors { code } } }',
    "subjectLinkCreate": "mutation($c: ID!) { subjectLinkCreate(contactId: $c) { token } }",
    "apiKeyCreate": 'mutation { apiKeyCreate(input: {kind: PARTNER, name: "k", scopes: ["contacts:read"]}) { apiKey { id } userErrors { code } } }',
    "apiKeyRotate": "mutation($id: ID!) { apiKeyRotate(input: {id: $id}) { apiKey { id } userErrors { code } } }",
    "apiKeyRevoke": "mutation($id: ID!) { apiKeyRevoke(id: $id) { apiKey { id } userErrors { code } } }",
    "webhookSubscriptionCreate": 'mutation($k: ID!) { webhookSubscriptionCreate(input: {url: "https://h.example.com/x", eventTypes: ["contact.created"], apiKeyId: $k}) { subscription { id } userErrors { code } } }',
    "memberProfileUpdate": 'mutation { memberProfileUpdate(input: {fullName: "Ann Lee"}) { profile { fullName } userErrors { code } } }',
    "tenantProfileUpdate": 'mutation { tenantProfileUpdate(input: {companyName: "Initech"}) { profile { companyName } userErrors { code } } }',
    "brandUpdate": 'mutation { brandUpdate(input: {primaryColor: "#123456"}) { brand { primaryColor } userErrors { code } } }',
    "accountDeletionRequest": "mutation { accountDeletionRequest { ownersNotified } }",
    "webhookSubscriptionRotateSecret": "mutation($id: ID!) { webhookSubscriptionRotateSecret(input: {id: $id}) { signingSecret userErrors { code } } }",
    "webhookSubscriptionDelete": "mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedSubscriptionId userErrors { code } } }",
}


def _email() -> str:
    return f"p-{uuid.uuid4().hex[:10]}@example.com"


REVISION = "query($id: ID!) { space(id: $id) { revisions { edges { node { id } } } } }"


async def test_every_mutation_writes_its_event(api, new_tenant, owner_url):
    tenant = await new_tenant()
    s = Script(api(tenant.token), owner_url, tenant.tenant_id)

    space = (await s.run("spaceCreate", M["spaceCreate"], {}, ["space.created"]))["space"]["id"]
    await s.run("spaceUpdate", M["spaceUpdate"], {"id": space}, ["space.updated"])
    await s.run("spacePublish", M["spacePublish"], {"id": space}, ["space.published"])
    await s.run("spaceUnpublish", M["spaceUnpublish"], {"id": space}, ["space.unpublished"])
    revision = (await s.owner(REVISION, {"id": space}))["data"]["space"]["revisions"]["edges"][0]
    await s.run(
        "spaceRestore",
        M["spaceRestore"],
        {"id": space, "r": revision["node"]["id"]},
        ["space.restored"],
    )
    await s.run("spacePublish", M["spacePublish"], {"id": space}, ["space.published"])
    b1 = (await s.run("blockAdd", M["blockAdd"], {"id": space}, ["block.created"]))["block"]["id"]
    b2 = (await s.run("blockAdd", M["blockAdd"], {"id": space}, ["block.created"]))["block"]["id"]
    await s.run("blockUpdate", M["blockUpdate"], {"id": b1}, ["block.updated"])
    await s.run("blockMove", M["blockMove"], {"id": b2}, ["block.moved"])
    await s.run("contentLocalesUpdate", M["contentLocalesUpdate"], {}, ["content_locales.updated"])
    await s.run("blockLocaleBodySet", M["blockLocaleBodySet"], {"id": b1}, ["block.updated"])
    await s.run("blockLocaleBodyClear", M["blockLocaleBodyClear"], {"id": b1}, ["block.updated"])
    await s.run("blockRemove", M["blockRemove"], {"id": b1}, ["block.deleted"])

    email = _email()
    contact = await s.run("contactCreate", M["contactCreate"], {"e": email}, ["contact.created"])
    cid = contact["contact"]["id"]
    await s.run("contactUpdate", M["contactUpdate"], {"id": cid}, ["contact.updated"])
    imported = await s.run(
        "contactImport", M["contactImport"], {"a": _email(), "b": _email()}, ["contact.created"] * 2
    )
    access = await s.run(
        "spaceInvite", M["spaceInvite"], {"s": space, "c": cid}, ["access.granted"]
    )
    await s.run("spaceNotify", M["spaceNotify"], {"s": space}, ["email.queued"])
    # a personalisation writes no event until the worker carries it out (WITHOUT_EVENT)
    template = (await s.run("spaceCreate", TEMPLATE, {}, ["space.created"]))["space"]["id"]
    queued = await s.owner(M["spacePersonalise"], {"t": template, "c": cid})
    assert queued["data"]["spacePersonalise"]["job"]["id"], queued
    assert len(await _topics(s.owner_url, s.tenant_id)) == s.seen
    await s.run(
        "consentGrant", M["consentGrant"], {"c": cid, "p": "MARKETING_EMAIL"}, ["consent.granted"]
    )
    await s.run(
        "marketingEmailQueue", M["marketingEmailQueue"], {"c": cid}, ["marketing_email.queued"]
    )
    await s.run("consentWithdraw", M["consentWithdraw"], {"c": cid}, ["consent.withdrawn"])
    await s.run(
        "consentGrant", M["consentGrant"], {"c": cid, "p": "ANALYTICS"}, ["consent.granted"]
    )
    await s.run("usageRecord", M["usageRecord"], {"c": cid, "s": space}, ["usage.recorded"])
    access_id = access["spaceAccesses"][0]["id"]
    await s.run("spaceAccessRevoke", M["spaceAccessRevoke"], {"id": access_id}, ["access.revoked"])
    await s.run("spaceArchive", M["spaceArchive"], {"id": space}, ["space.archived"])
    await s.run("spaceUnarchive", M["spaceUnarchive"], {"id": space}, ["space.unarchived"])
    await s.run("spaceArchive", M["spaceArchive"], {"id": space}, ["space.archived"])
    rule = await s.run("policyRuleSet", M["policyRuleSet"], {}, ["policy.updated"])
    await s.run(
        "policyRuleRemove", M["policyRuleRemove"], {"id": rule["rule"]["id"]}, ["policy.updated"]
    )

    # subject rights: access (completed), portability (rejected), correction (applied),
    # erasure (the contact is erased)
    req = {"e": email}
    created = ["subject_request.created"]
    acc = (await s.run("subjectAccessRequest", M["subjectAccessRequest"], req, created))["request"][
        "id"
    ]
    await s.run(
        "subjectRequestExtend", M["subjectRequestExtend"], {"id": acc}, ["subject_request.updated"]
    )
    await s.run(
        "subjectRequestVerify", M["subjectRequestVerify"], {"id": acc}, ["subject_request.updated"]
    )
    await s.run(
        "subjectRequestProcess",
        M["subjectRequestProcess"],
        {"id": acc},
        ["subject_request.completed"],
    )
    port = await s.run("subjectPortabilityRequest", M["subjectPortabilityRequest"], req, created)
    await s.run(
        "subjectRequestReject",
        M["subjectRequestReject"],
        {"id": port["request"]["id"]},
        ["subject_request.rejected"],
    )
    corr = (await s.run("subjectCorrectionRequest", M["subjectCorrectionRequest"], req, created))[
        "request"
    ]["id"]
    await s.run(
        "subjectRequestVerify", M["subjectRequestVerify"], {"id": corr}, ["subject_request.updated"]
    )
    await s.run(
        "subjectRequestProcess",
        M["subjectRequestProcess"],
        {"id": corr},
        ["contact.updated", "subject_request.completed"],
    )
    await s.run("subjectLinkCreate", M["subjectLinkCreate"], {"c": cid}, ["subject_link.created"])

    key = (await s.run("apiKeyCreate", M["apiKeyCreate"], {}, ["api_key.created"]))["apiKey"]["id"]
    sub = await s.run(
        "webhookSubscriptionCreate",
        M["webhookSubscriptionCreate"],
        {"k": key},
        ["webhook_subscription.created"],
    )
    await s.run(
        "webhookSubscriptionRotateSecret",
        M["webhookSubscriptionRotateSecret"],
        {"id": sub["subscription"]["id"]},
        ["webhook_subscription.secret_rotated"],
    )
    await s.run(
        "webhookSubscriptionDelete",
        M["webhookSubscriptionDelete"],
        {"id": sub["subscription"]["id"]},
        ["webhook_subscription.deleted"],
    )
    await s.run("apiKeyRotate", M["apiKeyRotate"], {"id": key}, ["api_key.rotated"])
    await s.run("apiKeyRevoke", M["apiKeyRevoke"], {"id": key}, ["api_key.revoked"])

    other = imported["contacts"][1]["id"]
    await s.run("contactDelete", M["contactDelete"], {"id": other}, ["contact.deleted"])
    era = (await s.run("subjectErasureRequest", M["subjectErasureRequest"], req, created))[
        "request"
    ]["id"]
    await s.run(
        "subjectRequestVerify", M["subjectRequestVerify"], {"id": era}, ["subject_request.updated"]
    )
    await s.run(
        "subjectRequestProcess",
        M["subjectRequestProcess"],
        {"id": era},
        ["contact.erased", "subject_request.completed"],
    )
    await s.run("spaceDelete", M["spaceDelete"], {"id": space}, ["space.deleted"])
    await s.run("memberProfileUpdate", M["memberProfileUpdate"], {}, ["member.updated"])
    await s.run("tenantProfileUpdate", M["tenantProfileUpdate"], {}, ["tenant_profile.updated"])
    await s.run("brandUpdate", M["brandUpdate"], {}, ["brand.updated"])
    await s.run(
        "accountDeletionRequest", M["accountDeletionRequest"], {}, ["account.deletion_requested"]
    )

    # then every mutation of the schema was covered, and no event holds a value
    mutations = set(build_schema()._schema.mutation_type.fields)
    assert mutations - WITHOUT_EVENT - COVERED_ELSEWHERE == s.covered
    stored = str(await _topics(owner_url, tenant.tenant_id))
    assert email not in stored and "Ann Lee" not in stored and "Initech" not in stored


async def test_events_commit_with_their_change_or_not_at_all(api, new_tenant, owner_url):
    tenant = await new_tenant()
    owner = api(tenant.token)
    refused = await owner(M["contactCreate"], {"e": "not-an-email"})
    assert refused["data"]["contactCreate"]["userErrors"]
    assert await _topics(owner_url, tenant.tenant_id) == []
    # the change and its event are written by the same transaction (same xmin; blockAdd
    # uses no savepoint, whose subtransaction would carry an id of its own)
    space = (await owner(M["spaceCreate"]))["data"]["spaceCreate"]["space"]["id"]
    added = await owner(M["blockAdd"], {"id": space})
    assert added["data"]["blockAdd"]["block"]["id"]
    async with owner_db(owner_url, tenant.tenant_id) as db:
        t = {"t": tenant.tenant_id}
        change = await db.scalar(text("SELECT xmin::text FROM blocks WHERE tenant_id = :t"), t)
        event = await db.scalar(
            text(
                "SELECT xmin::text FROM domain_events WHERE tenant_id = :t AND topic = 'block.created'"
            ),
            t,
        )
    assert change == event
