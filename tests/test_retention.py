"""Retention: a tenant's personal data is erased once its subscription ended more than the
grace period ago, by the same engine as a subject's erasure, and the purge is recorded.

Invariants (with a controlled clock):
- ended 31 days ago (grace 30): purged, and marked purged;
- ended 29 days ago: untouched; an active tenant: never touched, whatever its dates;
- a second run purges nothing more.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine

from core.db import owner_db, sessionmaker_for
from files.storage import asset_key
from models import SubjectRequest, SubjectRequestEvent, Tenant
from models.pii import unerasable_columns
from privacy.erasure import unlinked_personal_models
from privacy.retention import purge_tenant, run_retention
from tests.factories import make_full_contact
from tests.test_erasure import plant

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def _end(owner_url, tenant_id, days_ago: int | None, status: str = "ended") -> None:
    async with owner_db(owner_url, tenant_id) as db:
        ends = NOW - timedelta(days=days_ago) if days_ago is not None else None
        await db.execute(
            update(Tenant)
            .where(Tenant.id == tenant_id)
            .values(subscription_status=status, subscription_ends_at=ends)
        )


async def _personal_rows(owner_engine, tenant_id) -> dict[str, int]:
    async with owner_engine.connect() as conn:
        t = {"t": tenant_id}
        return {
            "contacts": await conn.scalar(
                text("SELECT count(*) FROM contacts WHERE tenant_id = :t"), t
            ),
            "consent_events": await conn.scalar(
                text("SELECT count(*) FROM consent_events WHERE tenant_id = :t"), t
            ),
            "space_access": await conn.scalar(
                text("SELECT count(*) FROM space_access WHERE tenant_id = :t"), t
            ),
            "member_emails": await conn.scalar(
                text(
                    "SELECT count(*) FROM members WHERE tenant_id = :t AND email NOT LIKE 'erased-%'"
                ),
                t,
            ),
            "live_tokens": await conn.scalar(
                text("SELECT count(*) FROM api_tokens WHERE tenant_id = :t AND revoked_at IS NULL"),
                t,
            ),
        }


async def test_retention_with_a_controlled_clock(
    new_tenant, owner_url, owner_engine, api, served_app
):
    ended_31, ended_29, active = (
        await new_tenant("E31"),
        await new_tenant("E29"),
        await new_tenant("Active"),
    )
    for t in (ended_31, ended_29, active):
        await make_full_contact(owner_url, t.tenant_id)
    await _end(owner_url, ended_31.tenant_id, 31)
    await _end(owner_url, ended_29.tenant_id, 29)
    await _end(owner_url, active.tenant_id, 400, status="active")
    # files, one about a contact and one not: the purge deletes every file of the tenant
    storage = served_app.state.microspace.storage
    for t in (ended_31, active):
        await plant(owner_url, t.tenant_id, "MRK", f"{uuid.uuid4().hex[:8]}@example.com", storage)
        await storage.put(asset_key(t.tenant_id, uuid.uuid4()), b"a file of no one")
    before_29 = await _personal_rows(owner_engine, ended_29.tenant_id)
    before_active = await _personal_rows(owner_engine, active.tenant_id)

    engine = create_async_engine(owner_url)
    try:
        purged = await run_retention(
            sessionmaker_for(engine), now=NOW, grace_days=30, storage=storage
        )
        again = await run_retention(
            sessionmaker_for(engine), now=NOW, grace_days=30, storage=storage
        )
    finally:
        await engine.dispose()
    assert await storage.list(f"t/{ended_31.tenant_id}/") == []
    assert len(await storage.list(f"t/{active.tenant_id}/")) == 3

    assert (
        ended_31.tenant_id in purged
        and ended_29.tenant_id not in purged
        and active.tenant_id not in purged
    )
    assert ended_31.tenant_id not in again  # purged once only
    assert await _personal_rows(owner_engine, ended_31.tenant_id) == {
        "contacts": 0,
        "consent_events": 0,
        "space_access": 0,
        "member_emails": 0,
        "live_tokens": 0,
    }
    assert await _personal_rows(owner_engine, ended_29.tenant_id) == before_29
    assert await _personal_rows(owner_engine, active.tenant_id) == before_active
    async with owner_engine.connect() as conn:
        marked = await conn.scalar(
            text("SELECT personal_data_purged_at FROM tenants WHERE id = :t"),
            {"t": ended_31.tenant_id},
        )
        recorded = await conn.scalar(
            text(
                "SELECT count(*) FROM audit_log WHERE tenant_id = :t AND operation = 'erase' AND principal_kind = 'system'"
            ),
            {"t": ended_31.tenant_id},
        )
    assert marked == NOW and recorded == 1
    # the purged tenant's old tokens no longer work
    assert (await api(ended_31.token)("{ viewer { kind } }"))["errors"][0]["extensions"][
        "code"
    ] == "UNAUTHENTICATED"


async def test_retention_command_prints_json(database_url):
    import asyncio
    import json
    import os
    import sys
    from pathlib import Path

    env = {**os.environ, "DATABASE_URL": database_url.render_as_string(hide_password=False)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve().parent.parent / "server.py"),
        "retention",
        "--grace-days",
        "30",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert isinstance(json.loads(out)["purged_tenant_ids"], list)


def test_every_personal_table_outside_the_subject_steps_is_erasable():
    # the tables a subject's steps never reach are found from the personal-data map
    unlinked = {m.__tablename__: m for m in unlinked_personal_models()}
    assert {"members", "subject_requests", "subject_request_events"} <= set(unlinked)
    # and each of their personal columns has an erased form: NULL or a declared replacement
    assert {name: unerasable_columns(m.__table__) for name, m in unlinked.items()} == {
        name: [] for name in unlinked
    }


async def test_purge_erases_members_and_requests_as_the_models_declare(new_tenant, owner_url):
    # given an ended tenant with a member and a subject request with a noted trail
    tenant = await new_tenant("Requests")
    request_id, subject_hash = uuid.uuid4(), uuid.uuid4().bytes
    async with owner_db(owner_url, tenant.tenant_id) as db:
        db.add(
            SubjectRequest(
                id=request_id,
                kind="correction",
                subject_email="someone@example.com",
                subject_hash=subject_hash,
                contact_ids=[],
                state="verifying",
                due_at=NOW,
                changes={"job_title": "new title"},
                created_by_kind="member",
                progress=[],
            )
        )
        await db.flush()
        db.add(
            SubjectRequestEvent(
                id=uuid.uuid4(),
                request_id=request_id,
                to_state="verifying",
                actor_kind="member",
                note="checked someone's passport",
            )
        )
    await _end(owner_url, tenant.tenant_id, 31)

    # when retention purges it
    engine = create_async_engine(owner_url)
    try:
        await purge_tenant(sessionmaker_for(engine), tenant.tenant_id, now=NOW)
    finally:
        await engine.dispose()

    # then every personal column of those tables holds its erased form
    async with owner_db(owner_url, tenant.tenant_id) as db:
        t = {"t": tenant.tenant_id}
        emails = list(await db.scalars(text("SELECT email FROM members WHERE tenant_id = :t"), t))
        request = (
            await db.execute(
                text("SELECT subject_email, changes FROM subject_requests WHERE tenant_id = :t"), t
            )
        ).one()
        notes = list(
            await db.scalars(
                text("SELECT note FROM subject_request_events WHERE tenant_id = :t"), t
            )
        )
    assert emails and all(e.startswith("erased-") and e.endswith("@invalid") for e in emails)
    assert tuple(request) == (f"hmac:{subject_hash.hex()}", None)
    assert notes == [None]


async def test_retention_erases_members_free_text_about_subjects(
    new_tenant, owner_url, owner_engine
):
    tenant = await new_tenant("Reasons")
    marker = f"MRK{uuid.uuid4().hex[:10]}"
    async with owner_db(owner_url, tenant.tenant_id) as db:
        db.add(
            SubjectRequest(
                id=uuid.uuid4(),
                kind="access",
                subject_email=f"{marker.lower()}@example.com",
                subject_hash=b"h" * 32,
                state="rejected",
                rejection_reason=f"{marker} is not a customer",
                extension_reason=f"{marker} sent a big file",
                due_at=NOW,
                created_by_kind="member",
                progress=[],
            )
        )
    await _end(owner_url, tenant.tenant_id, 31)
    engine = create_async_engine(owner_url)
    try:
        await run_retention(sessionmaker_for(engine), now=NOW, grace_days=30)
    finally:
        await engine.dispose()
    async with owner_engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM subject_requests r WHERE r::text ILIKE :m"),
            {"m": f"%{marker}%"},
        )
    assert left == 0
