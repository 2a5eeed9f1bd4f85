"""An interrupted erasure resumes by itself.

Invariants:
- an erasure left `processing` by a crash is completed by the worker's next run, with no
  member calling `subjectRequestProcess` again; nothing of the subject is left;
- processing a completed request says it is completed (not "verify it first").
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import httpx
from sqlalchemy import text

from core.db import owner_db
from microspace.app import create_app
from microspace.jobs.worker import run
from privacy import erasure
from tests.conftest import Api, error_codes
from tests.test_erasure import FILE, PROCESS, VERIFY, plant, scan

PROCESS_ERRORS = (
    "mutation($id: ID!) { subjectRequestProcess(id: $id) { userErrors { code message } } }"
)


async def test_the_worker_completes_an_interrupted_erasure(
    api, new_tenant, new_member, owner_url, owner_engine, settings, tmp_path
):
    # given: an erasure that crashed after its first step
    tenant = await new_tenant()
    m = f"MRK{uuid.uuid4().hex[:10]}"
    email = f"{m.lower()}@example.com"
    await plant(owner_url, tenant.tenant_id, m, email)
    officer_member = await new_member(tenant.tenant_id, "privacy_officer")
    officer = api(officer_member.token)
    rid = (await officer(FILE, {"e": email}))["data"]["subjectErasureRequest"]["request"]["id"]
    await officer(VERIFY, {"id": rid, "a": "in person"})
    first_step = erasure.steps()[0][0]

    def crash(step: str) -> None:
        if step == first_step:
            raise RuntimeError("killed midway")

    crashing = create_app(settings, erasure_after_step=crash)
    try:
        transport = httpx.ASGITransport(app=crashing)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            crashed = await Api(client, officer_member.token)(PROCESS, {"id": rid})
    finally:
        await crashing.state.microspace.engine.dispose()
    assert error_codes(crashed) == ["INTERNAL_SERVER_ERROR"]
    assert await scan(owner_engine, m)

    # when: the worker runs once
    await run(replace(settings, mail_dir=str(tmp_path)), once=True)

    # then: the erasure is complete and nothing of the subject is left
    async with owner_db(owner_url, tenant.tenant_id) as db:
        state = await db.scalar(
            text("SELECT state FROM subject_requests WHERE tenant_id = :t"), {"t": tenant.tenant_id}
        )
    assert state == "completed"
    assert await scan(owner_engine, m) == []

    # and processing it again says it is completed
    again = (await officer(PROCESS_ERRORS, {"id": rid}))["data"]["subjectRequestProcess"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]
    assert "completed" in again["userErrors"][0]["message"]
    assert "verify" not in again["userErrors"][0]["message"].lower()
