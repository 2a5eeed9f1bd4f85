"""Immediate deletion of the whole account, over HTTP, with the worker's e-mail.

Invariants:
- only owners may ask; the answer says, before anything happens, that it cannot be undone;
- a code goes by e-mail to every owner (and is cleared from the outbox once sent);
- a wrong or expired code changes nothing; after five wrong codes the request is spent;
- the right code deletes the account at once: no personal value is left (marker scan), and
  no row of the tenant in any table with a `tenant_id` (found in the catalog) but the tables
  docs/privacy.md "Account deletion" lists as kept; the tenant row is a nameless tombstone;
  another tenant's rows are untouched; the deletion is journalled and audited with ids only;
- only the transaction that confirmed the deletion may call `app_delete_tenant`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from core.db import owner_db
from core.ids import encode_id
from microspace.jobs.worker import run
from models import (
    AccountDeletion,
    Contact,
    DomainEvent,
    Suppression,
    Tenant,
    TenantPlan,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.conftest import error_codes
from tests.factories import API_KEY_CREATE
from tests.test_erasure import plant, plant_member, scan, scan_storage

REQUEST = "mutation { accountDeletionRequest { expiresAt ownersNotified warning } }"
CONFIRM = """mutation($c: String!) { accountDeletionConfirm(input: {code: $c}) {
  deleted userErrors { code field } } }"""


async def _codes(tmp_path) -> dict[str, str]:
    codes = {}
    for path in tmp_path.glob("*.eml"):
        mail = message_from_bytes(path.read_bytes(), policy=default)
        if "deletion" in mail["Subject"]:
            codes[str(mail["To"])] = re.search(
                r"code before it expires: (\d+)", mail.get_content()
            ).group(1)
    return codes


async def test_owners_delete_the_account_at_once(
    api, new_tenant, new_member, owner_url, owner_engine, settings, tmp_path, served_app
):
    # given a tenant with personal data everywhere (files too), two owners and an admin
    tenant = await new_tenant()
    m = f"MRK{uuid.uuid4().hex[:10]}"
    storage = served_app.state.microspace.storage
    await plant(owner_url, tenant.tenant_id, m, f"{m.lower()}@example.com", storage)
    await plant_member(owner_url, tenant.tenant_id, m, role="owner")
    admin = api((await new_member(tenant.tenant_id, "admin")).token)
    owner = api(tenant.token)
    await owner(
        f'mutation {{ tenantProfileUpdate(input: {{billingContactName: "{m} bill"}}) {{ userErrors {{ code }} }} }}'
    )
    other = await new_tenant("Other")
    other_m = f"MRK{uuid.uuid4().hex[:10]}"
    await plant(owner_url, other.tenant_id, other_m, f"{other_m.lower()}@example.com", storage)

    # only owners may ask, and the answer warns before anything happens
    assert error_codes(await admin(REQUEST)) == ["FORBIDDEN"]
    asked = (await owner(REQUEST))["data"]["accountDeletionRequest"]
    assert asked["ownersNotified"] == 2
    assert "nothing can undo it" in asked["warning"]
    assert await scan(owner_engine, m), "nothing is deleted by asking"

    # the code reaches every owner by e-mail and does not stay in the outbox
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    async with owner_engine.connect() as conn:
        owners = set(
            await conn.scalars(
                text("SELECT email FROM members WHERE tenant_id = :t AND role = 'owner'"),
                {"t": tenant.tenant_id},
            )
        )
    # (the worker sends every tenant's due e-mail: keep this tenant's)
    codes = {to: c for to, c in (await _codes(tmp_path)).items() if to in owners}
    assert len(codes) == 2 and f"{m.lower()}@example.com" in codes
    code = next(iter(codes.values()))
    async with owner_engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM outbox WHERE tenant_id = :t AND payload ? 'code'"),
            {"t": tenant.tenant_id},
        )
    assert left == 0

    # a wrong code changes nothing
    wrong = await owner(CONFIRM, {"c": "00000000" if code != "00000000" else "1"})
    assert wrong["data"]["accountDeletionConfirm"]["userErrors"] == [
        {"code": "INVALID_CODE", "field": ["code"]}
    ]
    assert await scan(owner_engine, m)

    # when the right code is confirmed
    done = await owner(CONFIRM, {"c": code})

    # then every personal value of the tenant is gone at once, and only of this tenant
    assert done["data"]["accountDeletionConfirm"] == {"deleted": True, "userErrors": []}
    assert await scan(owner_engine, m) == []
    assert await scan(owner_engine, other_m)
    # and every file of the tenant, originals and variants, is gone from storage
    assert await storage.list(f"t/{tenant.tenant_id}/") == []
    assert len(await scan_storage(storage, other_m)) == 2
    async with owner_engine.connect() as conn:
        t = {"t": tenant.tenant_id}
        status = await conn.scalar(text("SELECT subscription_status FROM tenants WHERE id = :t"), t)
        live = await conn.scalar(
            text("SELECT count(*) FROM api_tokens WHERE tenant_id = :t AND revoked_at IS NULL"), t
        )
        journal = await conn.scalar(
            text("SELECT kind FROM erasure_journal WHERE tenant_id = :t AND kind = 'account'"), t
        )
        audit = await conn.scalar(
            text(
                "SELECT count(*) FROM audit_log WHERE tenant_id = :t AND operation = 'account_delete'"
            ),
            t,
        )
        sign_ins = await conn.scalar(text("SELECT count(*) FROM sign_ins WHERE tenant_id = :t"), t)
        events = list(
            await conn.scalars(
                text(
                    "SELECT topic FROM domain_events WHERE tenant_id = :t AND topic LIKE 'account.%'"
                ),
                t,
            )
        )
    assert (status, live, journal, audit, sign_ins) == ("ended", 0, "account", 1, 0)
    # the events went with the account (no webhook is left to carry them)
    assert events == []
    assert error_codes(await owner("{ myProfile { email } }")) == ["UNAUTHENTICATED"]


async def test_expired_or_exhausted_codes_change_nothing(api, new_tenant, owner_url, owner_engine):
    tenant = await new_tenant()
    owner = api(tenant.token)
    assert (await owner(CONFIRM, {"c": "1"}))["data"]["accountDeletionConfirm"]["userErrors"][0][
        "code"
    ] == "NO_PENDING_REQUEST"
    await owner(REQUEST)
    for _ in range(5):
        await owner(CONFIRM, {"c": "not-it"})
    spent = await owner(CONFIRM, {"c": "not-it"})
    assert spent["data"]["accountDeletionConfirm"]["userErrors"][0]["code"] == "TOO_MANY_ATTEMPTS"
    await owner(REQUEST)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        await db.execute(
            update(AccountDeletion).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    expired = await owner(CONFIRM, {"c": "whatever"})
    assert expired["data"]["accountDeletionConfirm"]["userErrors"][0]["code"] == "CODE_EXPIRED"
    assert (await owner("{ myProfile { role } }"))["data"]["myProfile"] == {"role": "owner"}


# ------------------------------------------------------- what a deletion leaves, scanned

DOCS = Path(__file__).resolve().parent.parent / "docs" / "privacy.md"
KEPT_LIST = "What account deletion keeps"
TENANT_TABLES = """SELECT c.table_name FROM information_schema.columns c
  JOIN information_schema.tables t USING (table_schema, table_name)
  WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'
    AND t.table_type = 'BASE TABLE' ORDER BY 1"""


def _kept_by_the_docs() -> set[str]:
    """The tables named in the first column of docs/privacy.md's list of what is kept."""
    lines = DOCS.read_text(encoding="utf-8").split(KEPT_LIST, 1)[1].splitlines()
    table = itertools.dropwhile(lambda line: not line.startswith("|"), lines)
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), table))[2:]
    names = {n for row in rows for n in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert names, "docs/privacy.md lists what account deletion keeps"
    return names


async def _rows(engine, tenant_id) -> dict[str, int]:
    """Rows of the tenant in every table that has a tenant_id, read from the catalog."""
    async with engine.connect() as conn:
        tables = list(await conn.scalars(text(TENANT_TABLES)))
        return {
            table: await conn.scalar(
                text(f'SELECT count(*) FROM "{table}" WHERE tenant_id = :t'), {"t": tenant_id}
            )
            for table in tables
        }


async def _queue_personalisation(owner, owner_url, tenant_id) -> None:
    """A personalisation job waiting for the worker: the contacts it is for have rows."""
    made = await owner(
        'mutation { spaceCreate(input: {title: "Queued", isTemplate: true}) { space { id } } }'
    )
    async with owner_db(owner_url, tenant_id) as db:
        contact = await db.scalar(select(Contact.id).limit(1))
    queued = await owner(
        "mutation($t: ID!, $c: ID!) { spacePersonalise(input: {templateId: $t, contactIds: [$c]}) "
        "{ job { state } userErrors { code } } }",
        {"t": made["data"]["spaceCreate"]["space"]["id"], "c": encode_id("Contact", contact)},
    )
    assert queued["data"]["spacePersonalise"]["job"]["state"] == "QUEUED", queued


async def _fill(api, owner_url, tenant, storage) -> str:
    """Content everywhere: through the API where a client would, planted where only the
    worker or an operator writes. Returns the marker planted in personal columns."""
    owner = api(tenant.token)
    m = f"MRK{uuid.uuid4().hex[:10]}"
    await plant(owner_url, tenant.tenant_id, m, f"{m.lower()}@example.com", storage)
    leaver = await plant_member(owner_url, tenant.tenant_id, f"{m}L")
    assert (await api(leaver)("mutation { memberLeave { left } }"))["data"]["memberLeave"]["left"]

    async def ok(query: str, variables: dict | None = None) -> dict:
        result = await owner(query, variables)
        assert "errors" not in result, result
        data = next(iter(result["data"].values()))
        assert not data.get("userErrors"), data
        return data

    space = await ok(
        'mutation { spaceCreate(input: {title: "Room"}) { space { id } userErrors { code } } }'
    )
    for text_ in ("one", "two"):
        await ok(
            "mutation($s: ID!, $b: JSON!) { blockAdd(input: {spaceId: $s, kind: HEADING, body: $b}) "
            "{ block { id } userErrors { code } } }",
            {"s": space["space"]["id"], "b": {"text": text_}},
        )
    # a template personalised for a contact: a job, a personalised space, its access
    template = await ok(
        'mutation { spaceCreate(input: {title: "Tpl", isTemplate: true}) '
        "{ space { id } userErrors { code } } }"
    )
    async with owner_db(owner_url, tenant.tenant_id) as db:
        contact = await db.scalar(select(Contact.id).limit(1))
    await ok(
        "mutation($t: ID!, $c: ID!) { spacePersonalise(input: {templateId: $t, contactIds: [$c]}) "
        "{ job { id } userErrors { code } } }",
        {"t": template["space"]["id"], "c": encode_id("Contact", contact)},
    )
    # a scheduled unpublish (deleted with the account too)
    await ok(
        'mutation($s: ID!) { spaceSchedule(input: {spaceId: $s, unpublishAt: "2999-01-01T00:00:00Z"}) '
        "{ userErrors { code } } }",
        {"s": space["space"]["id"]},
    )
    # a published revision of the space and its blocks (deleted with the account too)
    await ok(
        'mutation($s: ID!) { spacePublish(id: $s, note: "first") { userErrors { code } } }',
        {"s": space["space"]["id"]},
    )
    await ok(
        'mutation { policyRuleSet(input: {subject: "viewer", object: "Contact.company", '
        'action: "read", effect: ALLOW}) { rule { id } userErrors { code } } }'
    )
    await ok(
        f'mutation {{ tenantProfileUpdate(input: {{billingContactName: "{m} bill"}}) '
        "{ userErrors { code } } }"
    )
    key = await ok(
        API_KEY_CREATE,
        {"input": {"kind": "PARTNER", "name": "crm", "scopes": ["contacts:read"]}},
    )
    await ok(
        'mutation($k: ID!) { webhookSubscriptionCreate(input: {url: "https://h.example.com/x", '
        'eventTypes: ["contact.created"], apiKeyId: $k}) { subscription { id } userErrors { code } } }',
        {"k": key["apiKey"]["id"]},
    )
    await ok(
        "mutation($d: String!) { persistedDocumentRegister(input: {document: $d}) "
        "{ document { sha256 } userErrors { code } } }",
        {"d": "query Spaces { spaces(first: 5) { edges { node { id } } } }"},
    )
    await ok(
        "mutation($e: String!) { subjectAccessRequest(input: {email: $e}) "
        "{ request { id } userErrors { code } } }",
        {"e": f"{m.lower()}@example.com"},
    )
    # what the worker, an operator or an erasure writes
    async with owner_db(owner_url, tenant.tenant_id) as db:
        sub = await db.scalar(select(WebhookSubscription.id))
        event = await db.scalar(select(DomainEvent.id).limit(1))
        db.add(
            WebhookDelivery(
                subscription_id=sub, event_id=event, event_type="contact.created", status="dead"
            )
        )
        db.add(TenantPlan(name="team", max_spaces=50))
        db.add(Suppression(email_hash=hashlib.sha256(m.encode()).digest()))
        await db.execute(
            update(Tenant)
            .where(Tenant.id == tenant.tenant_id)
            .values(
                cors_origins=["https://app.example.com"], visitor_url="https://app.example.com/v"
            )
        )
        # a live subscriber's process follows the tenant (microspace/live/follows.py)
        await db.execute(
            text(
                "INSERT INTO live_follows (tenant_id, process, expires_at) "
                "VALUES (:t, gen_random_uuid(), now() + interval '1 minute')"
            ),
            {"t": tenant.tenant_id},
        )
    return m


async def test_deletion_leaves_no_row_but_the_kept_ones(
    api, new_tenant, owner_url, owner_engine, settings, tmp_path, served_app
):
    # given two tenants with rows in every table, and a deletion asked for and mailed
    tenant, other = await new_tenant("Gone"), await new_tenant("Other")
    storage = served_app.state.microspace.storage
    m = await _fill(api, owner_url, tenant, storage)
    await _fill(api, owner_url, other, storage)
    owner = api(tenant.token)
    assert (await owner(REQUEST))["data"]["accountDeletionRequest"]["ownersNotified"] == 1
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    # the worker carried out the personalisation jobs: one waits again (its contacts' rows)
    for t in (tenant, other):
        await _queue_personalisation(api(t.token), owner_url, t.tenant_id)
    async with owner_engine.connect() as conn:
        to = await conn.scalar(
            text("SELECT email FROM members WHERE tenant_id = :t AND id = :m"),
            {"t": tenant.tenant_id, "m": tenant.member_id},
        )
        name = await conn.scalar(
            text("SELECT name FROM tenants WHERE id = :t"), {"t": tenant.tenant_id}
        )
    code = (await _codes(tmp_path))[to]
    before = await _rows(owner_engine, tenant.tenant_id)
    empty = sorted(table for table, n in before.items() if n == 0)
    assert empty == [], f"give the tenant rows in {empty} (_fill), so their deletion is tested"
    other_before = await _rows(owner_engine, other.tenant_id)

    # when an owner confirms
    done = await owner(CONFIRM, {"c": code})
    assert done["data"]["accountDeletionConfirm"] == {"deleted": True, "userErrors": []}

    # then no table with a tenant_id holds a row of the tenant, but those the docs keep
    kept = _kept_by_the_docs()
    after = await _rows(owner_engine, tenant.tenant_id)
    assert {table: n for table, n in after.items() if n and table not in kept} == {}
    # each kept table still holds something (the list is exact, not generous)
    assert [t for t in kept if t in after and after[t] == 0] == []
    assert await scan(owner_engine, m) == []
    # the tenant row is a tombstone: no name, no origins, ended, purged
    assert "tenants" in kept
    async with owner_engine.connect() as conn:
        tomb = (
            await conn.execute(
                text(
                    "SELECT name, cors_origins, visitor_url, subscription_status, "
                    "personal_data_purged_at FROM tenants WHERE id = :t"
                ),
                {"t": tenant.tenant_id},
            )
        ).one()
        journal = list(
            await conn.scalars(
                text("SELECT kind FROM erasure_journal WHERE tenant_id = :t ORDER BY erased_at"),
                {"t": tenant.tenant_id},
            )
        )
    assert name not in tomb.name and tomb.name == "[deleted]"
    assert (tomb.cors_origins, tomb.visitor_url, tomb.subscription_status) == ([], None, "ended")
    assert tomb.personal_data_purged_at is not None
    assert journal == ["member", "account"]
    # and the other tenant is untouched
    assert await _rows(owner_engine, other.tenant_id) == other_before
    assert error_codes(await owner("{ myProfile { email } }")) == ["UNAUTHENTICATED"]


async def _call_delete(app_engine, scope, target, *, confirm: bool = False) -> None:
    """As the application role, in one transaction scoped to `scope`."""
    async with app_engine.connect() as conn, conn.begin():
        await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(scope)})
        if confirm:
            await conn.execute(text("UPDATE account_deletions SET confirmed_at = now()"))
        await conn.execute(text("SELECT app_delete_tenant(:t)"), {"t": target})


async def test_only_a_confirming_transaction_may_delete(
    api, new_tenant, owner_url, app_engine, owner_engine
):
    tenant, other = await new_tenant(), await new_tenant("Other")
    await api(tenant.token)(REQUEST)
    refused = pytest.raises(DBAPIError, match="app_delete_tenant")
    with refused:  # asked for, not confirmed
        await _call_delete(app_engine, tenant.tenant_id, tenant.tenant_id)
    with refused:  # another tenant than the transaction's
        await _call_delete(app_engine, tenant.tenant_id, other.tenant_id, confirm=True)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        await db.execute(update(AccountDeletion).values(confirmed_at=datetime.now(UTC)))
    with refused:  # confirmed, but by another transaction
        await _call_delete(app_engine, tenant.tenant_id, tenant.tenant_id)
    assert (await _rows(owner_engine, tenant.tenant_id))["members"] == 1

    # confirmed in the calling transaction (as accountDeletionConfirm does): deleted
    await _call_delete(app_engine, tenant.tenant_id, tenant.tenant_id, confirm=True)
    rows = await _rows(owner_engine, tenant.tenant_id)
    assert rows["members"] == rows["account_deletions"] == rows["api_tokens"] == 0
    assert (await _rows(owner_engine, other.tenant_id))["members"] == 1
