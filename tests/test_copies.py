"""Copies outside the database follow it.

Invariants:
- the file mail sink keeps no e-mail (verification codes included) of a contact whose data
  was erased, or of a tenant purged by retention: the worker removes them;
- the access log names the export route, never the link's token;
- an export link stops working once its subject was erased.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from core.access_log import RedactExportTokens
from core.db import owner_db, sessionmaker_for
from microspace.jobs.worker import run
from models import Contact, Tenant
from privacy.retention import run_retention
from tests.factories import make_full_contact
from tests.test_erasure import FILE, PROCESS, VERIFY
from tests.test_export import ATTEST, FILE_ACCESS
from tests.test_export import PROCESS as PROCESS_ACCESS
from tests.test_subject_requests import FILE as FILE_ANY


async def _email(owner_url, tenant_id, cid) -> str:
    async with owner_db(owner_url, tenant_id) as db:
        return await db.scalar(select(Contact.email).where(Contact.id == cid))


async def test_the_mail_sink_forgets_erased_subjects_and_purged_tenants(
    api, new_tenant, new_member, owner_url, settings, tmp_path
):
    # given: two tenants whose contacts got a verification code through the file sink
    erased, purged, kept = (
        await new_tenant("Erased"),
        await new_tenant("Purged"),
        await new_tenant(),
    )
    worker_settings = replace(settings, mail_dir=str(tmp_path))
    officers, emails = {}, {}
    for t in (erased, purged, kept):
        cid = await make_full_contact(owner_url, t.tenant_id)
        emails[t.tenant_id] = await _email(owner_url, t.tenant_id, cid)
        officers[t.tenant_id] = api((await new_member(t.tenant_id, "privacy_officer")).token)
        await officers[t.tenant_id](FILE_ANY % "subjectAccessRequest", {"e": emails[t.tenant_id]})
    await run(worker_settings, once=True)
    sink = Path(tmp_path)
    before = "".join(p.read_text() for p in sink.glob("*.eml"))
    assert all(e in before for e in emails.values())

    # when: one subject is erased, the other tenant is purged, and the worker runs
    officer = officers[erased.tenant_id]
    rid = (await officer(FILE, {"e": emails[erased.tenant_id]}))["data"]["subjectErasureRequest"][
        "request"
    ]["id"]
    await officer(VERIFY, {"id": rid, "a": "in person"})
    assert (await officer(PROCESS, {"id": rid}))["data"]["subjectRequestProcess"]["request"][
        "state"
    ] == "COMPLETED"
    now = datetime.now(UTC)
    async with owner_db(owner_url, purged.tenant_id) as db:
        await db.execute(
            update(Tenant)
            .where(Tenant.id == purged.tenant_id)
            .values(subscription_status="ended", subscription_ends_at=now - timedelta(days=40))
        )
    engine = create_async_engine(owner_url)
    try:
        await run_retention(sessionmaker_for(engine), now=now, grace_days=30)
    finally:
        await engine.dispose()
    await run(worker_settings, once=True)

    # then: only the untouched tenant's e-mail is left in the sink
    left = "".join(p.read_text() for p in sink.glob("*.eml"))
    assert emails[erased.tenant_id] not in left
    assert emails[purged.tenant_id] not in left
    assert emails[kept.tenant_id] in left


def test_the_access_log_names_the_route_without_the_token():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5555", "GET", "/exports/eyJ2Ijox.c2lnbmF0dXJl?format=zip", "1.1", 200),
        None,
    )
    assert RedactExportTokens().filter(record)
    line = record.getMessage()
    assert "eyJ2Ijox" not in line and "c2lnbmF0dXJl" not in line
    assert "/exports/[link]?format=zip" in line


def test_the_app_installs_the_access_log_filter(app):
    filters = logging.getLogger("uvicorn.access").filters
    assert any(isinstance(f, RedactExportTokens) for f in filters)


async def test_an_export_link_stops_working_once_its_subject_is_erased(
    api, new_tenant, new_member, owner_url, client
):
    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    email = await _email(owner_url, tenant.tenant_id, cid)
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    request_id = (await officer(FILE_ACCESS, {"e": email}))["data"]["subjectAccessRequest"][
        "request"
    ]["id"]
    await officer(ATTEST, {"id": request_id, "a": "Passport seen"})
    processed = (await officer(PROCESS_ACCESS, {"id": request_id}))["data"]
    url = processed["subjectRequestProcess"]["exportLink"]["jsonUrl"]
    headers = {"Authorization": f"Bearer {tenant.token}"}
    assert (await client.get(url, headers=headers)).status_code == 200

    rid = (await officer(FILE, {"e": email}))["data"]["subjectErasureRequest"]["request"]["id"]
    await officer(VERIFY, {"id": rid, "a": "in person"})
    await officer(PROCESS, {"id": rid})

    response = await client.get(url, headers=headers)
    assert response.status_code == 410, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "EXPORT_LINK_REVOKED"
