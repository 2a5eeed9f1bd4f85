"""Immediate deletion of the whole account, over HTTP, with the worker's e-mail.

Invariants:
- only owners may ask; the answer says, before anything happens, that it cannot be undone;
- a code goes by e-mail to every owner (and is cleared from the outbox once sent);
- a wrong or expired code changes nothing; after five wrong codes the request is spent;
- the right code erases every personal value of the tenant at once (marker scan), by the
  retention engine, ends the subscription, revokes every token, journals the purge, and
  leaves an audit entry with ids only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

from sqlalchemy import text, update

from core.db import owner_db
from microspace.jobs.worker import run
from models import AccountDeletion
from tests.conftest import error_codes
from tests.test_erasure import plant, plant_member, scan

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
    api, new_tenant, new_member, owner_url, owner_engine, settings, tmp_path
):
    # given a tenant with personal data everywhere, two owners and an admin
    tenant = await new_tenant()
    m = f"MRK{uuid.uuid4().hex[:10]}"
    await plant(owner_url, tenant.tenant_id, m, f"{m.lower()}@example.com")
    await plant_member(owner_url, tenant.tenant_id, m, role="owner")
    admin = api((await new_member(tenant.tenant_id, "admin")).token)
    owner = api(tenant.token)
    await owner(
        f'mutation {{ tenantProfileUpdate(input: {{billingContactName: "{m} bill"}}) {{ userErrors {{ code }} }} }}'
    )
    other = await new_tenant("Other")
    other_m = f"MRK{uuid.uuid4().hex[:10]}"
    await plant(owner_url, other.tenant_id, other_m, f"{other_m.lower()}@example.com")

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
    async with owner_engine.connect() as conn:
        t = {"t": tenant.tenant_id}
        status = await conn.scalar(text("SELECT subscription_status FROM tenants WHERE id = :t"), t)
        live = await conn.scalar(
            text("SELECT count(*) FROM api_tokens WHERE tenant_id = :t AND revoked_at IS NULL"), t
        )
        journal = await conn.scalar(
            text("SELECT kind FROM erasure_journal WHERE tenant_id = :t AND kind = 'tenant'"), t
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
    assert (status, live, journal, audit, sign_ins) == ("ended", 0, "tenant", 1, 0)
    # integrations learn that they must delete their copies
    assert sorted(events) == ["account.deleted", "account.deletion_requested"]
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
