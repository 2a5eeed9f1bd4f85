"""An erasure cut off by the statement timeout says what is true, then completes.

Invariants (audit finding: the answer said "nothing was changed" although most steps had
committed):
- a step that runs past the statement timeout leaves the steps before it done, and the
  answer is the request in PROCESSING with no error;
- the worker's next run completes it, and nothing of the subject is left.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import httpx
from sqlalchemy import text

from core.db import owner_db
from microspace.app import create_app
from microspace.jobs.worker import run
from privacy import erasure
from tests.conftest import Api
from tests.test_erasure import FILE, PROCESS, VERIFY, plant, scan


async def test_an_erasure_past_the_statement_timeout_is_in_progress_then_completes(
    api, new_tenant, new_member, owner_url, owner_engine, settings, tmp_path
):
    # given a verified erasure whose third step's table is locked once the second committed
    tenant = await new_tenant()
    m = f"MRK{uuid.uuid4().hex[:10]}"
    email = f"{m.lower()}@example.com"
    await plant(owner_url, tenant.tenant_id, m, email)
    officer_member = await new_member(tenant.tenant_id, "privacy_officer")
    officer = api(officer_member.token)
    rid = (await officer(FILE, {"e": email}))["data"]["subjectErasureRequest"]["request"]["id"]
    await officer(VERIFY, {"id": rid, "a": "in person"})
    plan = erasure.steps()
    second, third_table = plan[1][0], plan[2][1].__tablename__
    held: dict[str, Any] = {}

    async def lock_the_next_table(step: str) -> None:
        if step == second:
            held["conn"] = conn = await owner_engine.connect()
            await conn.execute(text(f"LOCK TABLE {third_table} IN ACCESS EXCLUSIVE MODE"))

    short = create_app(
        replace(settings, statement_timeout=1), erasure_after_step=lock_the_next_table
    )
    try:
        transport = httpx.ASGITransport(app=short)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            # when the mutation runs into the lock
            answer = await Api(client, officer_member.token)(PROCESS, {"id": rid})
    finally:
        if "conn" in held:
            await held["conn"].close()
        await short.state.microspace.engine.dispose()

    # then it answers the request in progress, and two steps are done
    assert "errors" not in answer, answer
    payload = answer["data"]["subjectRequestProcess"]
    assert payload["userErrors"] == [] and payload["request"]["state"] == "PROCESSING", payload
    async with owner_db(owner_url, tenant.tenant_id) as db:
        progress = await db.scalar(
            text("SELECT progress FROM subject_requests WHERE tenant_id = :t"),
            {"t": tenant.tenant_id},
        )
    assert progress == [plan[0][0], second]

    # and the worker completes it
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        state = await db.scalar(
            text("SELECT state FROM subject_requests WHERE tenant_id = :t"), {"t": tenant.tenant_id}
        )
    assert state == "completed"
    assert await scan(owner_engine, m) == []
