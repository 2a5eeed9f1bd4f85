"""Erasure (GDPR Art. 17) through HTTP, and the proof that nothing of the subject is left.

Invariants:
- after an erasure, no marker planted in any personal-data column of any table is found in
  any text, varchar, array or JSON column of any table in the database;
- another contact of the tenant and the same address in another tenant are untouched;
- the completed request keeps the subject only as the keyed hash;
- an erasure killed midway completes on the next run; a second erasure is a no-op;
- the address is suppressed: it cannot be created or imported again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from core.db import owner_db
from microspace.app import create_app
from models import (
    Base,
    ConsentEvent,
    Contact,
    EmailSent,
    OutboxMessage,
    SpaceAccess,
    UsageEvent,
)
from models.pii import personal_columns
from privacy import erasure
from tests.conftest import Api, error_codes
from tests.factories import make_spaces

FILE = "mutation($e: String!) { subjectErasureRequest(input: {email: $e}) { request { id } userErrors { code } } }"
VERIFY = "mutation($id: ID!, $a: String) { subjectRequestVerify(input: {id: $id, attestation: $a}) { request { state } userErrors { code } } }"
PROCESS = "mutation($id: ID!) { subjectRequestProcess(id: $id) { request { state subjectEmail } userErrors { code } } }"
TEXT_TYPES = ("text", "character varying", "json", "jsonb", "ARRAY")
# personal columns that hold one of a few fixed words (a CHECK constraint): no free text
ENUMERATED = {("consent_events", "action")}


async def plant(
    owner_url, tenant_id, marker: str, email: str
) -> tuple[uuid.UUID, set[tuple[str, str]]]:
    """A contact whose every text-bearing personal column holds `marker`; returns the
    contact id and the (table, column) pairs planted."""
    space_id = (await make_spaces(owner_url, tenant_id, 1))[0]
    cid, outbox_id = uuid.uuid4(), uuid.uuid4()
    async with owner_db(owner_url, tenant_id) as db:
        db.add(
            Contact(
                id=cid,
                email=email,
                full_name=f"{marker} name",
                company=f"{marker} co",
                job_title=f"{marker} job",
                phone=f"{marker} phone",
                locale=f"{marker}",
            )
        )
        await db.flush()
        db.add(
            SpaceAccess(
                id=uuid.uuid4(),
                space_id=space_id,
                contact_id=cid,
                state="accepted",
                accepted_at=datetime.now(UTC),
            )
        )
        db.add(
            ConsentEvent(
                id=uuid.uuid4(),
                contact_id=cid,
                purpose="analytics",
                action="granted",
                source="form",
                policy_version="v1",
                evidence=f"{marker} evidence",
            )
        )
        db.add(UsageEvent(id=uuid.uuid4(), contact_id=cid, space_id=space_id))
        db.add(
            OutboxMessage(
                id=outbox_id,
                kind="marketing",
                contact_id=cid,
                payload={"body": f"{marker} body"},
                last_error=f"{marker} bounced",
            )
        )
        db.add(
            EmailSent(
                id=uuid.uuid4(),
                contact_id=cid,
                outbox_id=outbox_id,
                kind="marketing",
                to_address=email,
                subject=f"{marker} subject",
                message_id="<m@x>",
            )
        )
    planted = {
        ("contacts", c) for c in ("email", "full_name", "company", "job_title", "phone", "locale")
    }
    planted |= {
        ("consent_events", "evidence"),
        ("outbox", "payload"),
        ("outbox", "last_error"),
        ("emails_sent", "to_address"),
        ("emails_sent", "subject"),
    }
    return cid, planted


async def scan(owner_engine, needle: str, tenant_id: uuid.UUID | None = None) -> list[str]:
    """Every table.column (text, varchar, arrays, json) whose value contains needle
    (case-insensitive), in one tenant's rows if given, else in the whole database."""
    hits = []
    async with owner_engine.connect() as conn:
        columns = (
            await conn.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type = ANY(:types)"
                ),
                {"types": list(TEXT_TYPES)},
            )
        ).all()
        tenant_tables = set(
            await conn.scalars(
                text(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
                )
            )
        )
        for table, column in columns:
            where = f'"{column}"::text ILIKE :n'
            if tenant_id is not None and table in tenant_tables:
                where += " AND tenant_id = :t"
            found = await conn.scalar(
                text(f'SELECT count(*) FROM "{table}" WHERE {where}'),
                {"n": f"%{needle}%", "t": tenant_id},
            )
            if found:
                hits.append(f"{table}.{column}")
    return hits


async def _erase(api, token, email: str, note: str) -> dict:
    rid = (await api(token)(FILE, {"e": email}))["data"]["subjectErasureRequest"]["request"]["id"]
    await api(token)(VERIFY, {"id": rid, "a": note})
    return {"id": rid, "result": await api(token)(PROCESS, {"id": rid})}


async def test_erasure_proof(api, new_tenant, new_member, owner_url, owner_engine):
    # given a subject with markers everywhere, a neighbour, and the same address elsewhere
    tenant, other_tenant = await new_tenant("A"), await new_tenant("B")
    m, neighbour_m, elsewhere_m = (f"MRK{uuid.uuid4().hex[:10]}" for _ in range(3))
    # the address is shared with the other tenant's contact, so it is not the marker itself
    email = f"subject-{uuid.uuid4().hex[:10]}@example.com"
    _, planted = await plant(owner_url, tenant.tenant_id, m, email)
    await plant(owner_url, tenant.tenant_id, neighbour_m, f"{neighbour_m.lower()}@example.com")
    await plant(owner_url, other_tenant.tenant_id, elsewhere_m, email)
    officer = (await new_member(tenant.tenant_id, "privacy_officer")).token
    # the subject's other requests hold personal data too: a correction with new values
    await api(officer)(
        f'mutation($e: String) {{ subjectCorrectionRequest(input: {{email: $e, changes: {{jobTitle: "{m} new"}}}}) {{ request {{ id }} }} }}',
        {"e": email},
    )
    subject_text_columns = {
        (pc.table, pc.column) for pc in personal_columns() if pc.table in {t for t, _ in planted}
    } - ENUMERATED
    assert {(t, c) for t, c in subject_text_columns if _is_text(t, c)} <= planted, (
        "plant a marker in the new column"
    )
    assert await scan(owner_engine, m), "markers were planted"

    # when the subject's erasure runs (the attestation names them, too)
    done = await _erase(api, officer, email, f"Verified {m} in person")

    # then no marker is left anywhere, and others are untouched
    assert done["result"]["data"]["subjectRequestProcess"]["request"]["state"] == "COMPLETED"
    assert done["result"]["data"]["subjectRequestProcess"]["request"]["subjectEmail"].startswith(
        "hmac:"
    )
    assert await scan(owner_engine, m) == []
    # the address itself, in the subject's tenant (the other tenant's contact keeps it)
    assert await scan(owner_engine, email, tenant.tenant_id) == []
    assert len(await scan(owner_engine, neighbour_m)) == len(planted)
    # the other tenant's copy: every marker but in the two address columns (shared address)
    assert len(await scan(owner_engine, elsewhere_m)) == len(planted) - 2
    async with owner_db(owner_url, other_tenant.tenant_id) as db:
        assert (
            await db.scalar(text("SELECT count(*) FROM contacts WHERE email = :e"), {"e": email})
            == 1
        )


def _is_text(table: str, column: str) -> bool:
    col = Base.metadata.tables[table].columns[column]
    return col.type.python_type in (str, dict) if hasattr(col.type, "python_type") else False


async def test_crash_midway_resumes_and_second_erasure_is_a_no_op(
    api, new_tenant, new_member, owner_url, owner_engine, settings
):
    tenant = await new_tenant()
    m = f"MRK{uuid.uuid4().hex[:10]}"
    email = f"{m.lower()}@example.com"
    await plant(owner_url, tenant.tenant_id, m, email)
    officer = (await new_member(tenant.tenant_id, "privacy_officer")).token
    rid = (await api(officer)(FILE, {"e": email}))["data"]["subjectErasureRequest"]["request"]["id"]
    await api(officer)(VERIFY, {"id": rid, "a": "in person"})
    first_step = erasure.steps()[0][0]

    def crash(step: str) -> None:
        if step == first_step:
            raise RuntimeError("killed midway")

    # an app of its own, given the hook that kills the erasure after its first step
    crashing = create_app(settings, erasure_after_step=crash)
    try:
        transport = httpx.ASGITransport(app=crashing)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            crashed = await Api(client, officer)(PROCESS, {"id": rid})
    finally:
        await crashing.state.microspace.engine.dispose()
    assert error_codes(crashed) == ["INTERNAL_SERVER_ERROR"]
    async with owner_db(owner_url, tenant.tenant_id) as db:
        state, progress = (
            await db.execute(
                text("SELECT state, progress FROM subject_requests WHERE tenant_id = :t"),
                {"t": tenant.tenant_id},
            )
        ).one()
    assert state == "processing" and progress == [first_step]
    assert await scan(owner_engine, m), "the crash left the rest to do"

    resumed = await api(officer)(PROCESS, {"id": rid})
    assert resumed["data"]["subjectRequestProcess"]["request"]["state"] == "COMPLETED"
    assert await scan(owner_engine, m) == []

    # a second erasure of the same subject changes nothing
    async with owner_engine.connect() as conn:
        before = await conn.scalar(
            text("SELECT count(*) FROM suppressions WHERE tenant_id = :t"), {"t": tenant.tenant_id}
        )
    again = await _erase(api, officer, email, "asked again")
    assert again["result"]["data"]["subjectRequestProcess"]["request"]["state"] == "COMPLETED"
    async with owner_engine.connect() as conn:
        after = await conn.scalar(
            text("SELECT count(*) FROM suppressions WHERE tenant_id = :t"), {"t": tenant.tenant_id}
        )
        contacts = await conn.scalar(
            text("SELECT count(*) FROM contacts WHERE tenant_id = :t"), {"t": tenant.tenant_id}
        )
    assert before == after == 1 and contacts == 0
    assert await scan(owner_engine, m) == []


async def test_erased_address_is_suppressed(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    m = f"MRK{uuid.uuid4().hex[:10]}"
    email = f"{m.lower()}@example.com"
    await plant(owner_url, tenant.tenant_id, m, email)
    officer = (await new_member(tenant.tenant_id, "privacy_officer")).token
    await _erase(api, officer, email, "in person")
    owner = api(tenant.token)
    created = await owner(
        "mutation($e: String!) { contactCreate(input: {email: $e}) { contact { id } userErrors { code } } }",
        {"e": "  " + email.upper()},
    )
    assert [e["code"] for e in created["data"]["contactCreate"]["userErrors"]] == ["SUPPRESSED"]
    imported = await owner(
        'mutation($e: String!) { contactImport(input: {contacts: [{email: "fine@example.com"}, {email: $e}]}) { importedCount userErrors { code row } } }',
        {"e": email},
    )
    assert imported["data"]["contactImport"]["userErrors"] == [{"code": "SUPPRESSED", "row": 1}]
    assert (await owner("{ contacts { totalCount } }"))["data"]["contacts"]["totalCount"] == 0


async def test_ledger_cannot_be_emptied_outside_an_erasure(settings, new_tenant, owner_url):
    """The append-only ledgers open only for a contact whose erasure is in progress."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import create_async_engine

    tenant = await new_tenant()
    cid, _ = await plant(
        owner_url,
        tenant.tenant_id,
        f"MRK{uuid.uuid4().hex[:8]}",
        f"x{uuid.uuid4().hex[:6]}@example.com",
    )
    engine = create_async_engine(settings.app_url())
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="no erasure in progress"):
                async with conn.begin():
                    await conn.execute(
                        text("SELECT set_config('app.tenant_id', :t, true)"),
                        {"t": str(tenant.tenant_id)},
                    )
                    await conn.execute(text("SELECT app_erase_ledger(:c)"), {"c": cid})
    finally:
        await engine.dispose()
