"""Scheduled publishing (docs/content.md, Schedules).

Invariants:
- `spaceSchedule` sets and clears a space's publishAt and unpublishAt; `spaceSchedules`
  lists the pending ones; a space with a publish scheduled is SCHEDULED;
- a time in the past, an unpublish before the publish and a schedule on an archived space
  are refused with user errors, and nothing changes; viewers may not schedule;
- the worker carries out a due schedule exactly once: a worker killed (SIGKILL) after
  publishing in its open transaction leaves nothing, another worker skips the schedule
  while it is held, and two workers at once afterwards publish it once: one revision, one
  `space.published` event, audited as the member who set the schedule;
- a scheduled unpublish withdraws the published revision.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from core.db import make_engine, owner_db, sessionmaker_for
from core.ids import encode_id
from microspace.jobs.schedules import run_schedules
from tests.conftest import error_codes
from tests.factories import make_spaces
from tests.test_processes import _env

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE = """mutation($input: SpaceScheduleInput!) { spaceSchedule(input: $input) {
  space { id state } schedules { action runAt } userErrors { code field } } }"""
LIST = """query($s: ID) { spaceSchedules(spaceId: $s) { totalCount
  edges { node { spaceId action runAt } } } }"""
STATE = "query($id: ID!) { space(id: $id) { state } }"


def _at(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_schedules_are_set_listed_cleared_and_checked(api, new_tenant, new_member, owner_url):
    t = await new_tenant("Sched")
    draft, archived = [
        (await make_spaces(owner_url, t.tenant_id, 1, status=s))[0] for s in ("draft", "archived")
    ]
    gid, owner = encode_id("Space", draft), api(t.token)

    set_ = await owner(
        SCHEDULE, {"input": {"spaceId": gid, "publishAt": _at(days=1), "unpublishAt": _at(days=2)}}
    )
    payload = set_["data"]["spaceSchedule"]
    assert payload["userErrors"] == [], set_
    assert [s["action"] for s in payload["schedules"]] == ["PUBLISH", "UNPUBLISH"]
    assert payload["space"]["state"] == "SCHEDULED"
    listed = await owner(LIST, {"s": gid})
    assert listed["data"]["spaceSchedules"]["totalCount"] == 2

    # refused, nothing changed
    cases = [
        ({"spaceId": gid, "publishAt": _at(minutes=-1)}, ("PAST_TIME", ["publishAt"])),
        ({"spaceId": gid, "unpublishAt": _at(hours=1)}, ("INVALID_ORDER", ["unpublishAt"])),
        (
            {"spaceId": encode_id("Space", archived), "publishAt": _at(days=1)},
            ("SPACE_ARCHIVED", ["spaceId"]),
        ),
    ]
    for input, (code, field) in cases:
        refused = (await owner(SCHEDULE, {"input": input}))["data"]["spaceSchedule"]
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [(code, field)]
        assert refused["schedules"] == []
    assert (await owner(LIST, {"s": gid})) == listed
    viewer = await new_member(t.tenant_id, "viewer")
    denied = await api(viewer.token)(SCHEDULE, {"input": {"spaceId": gid, "publishAt": None}})
    assert error_codes(denied) == ["FORBIDDEN"]

    # null clears one; omitting leaves it
    cleared = await owner(SCHEDULE, {"input": {"spaceId": gid, "publishAt": None}})
    assert [s["action"] for s in cleared["data"]["spaceSchedule"]["schedules"]] == ["UNPUBLISH"]
    assert (await owner(STATE, {"id": gid}))["data"]["space"]["state"] == "NEVER_PUBLISHED"
    unknown = await owner(
        SCHEDULE, {"input": {"spaceId": encode_id("Space", uuid.uuid4()), "publishAt": _at(days=1)}}
    )
    assert error_codes(unknown) == ["NOT_FOUND"]


async def _worker_process(settings, *args: str) -> asyncio.subprocess.Process:
    env = _env(DATABASE_URL=settings.database_url)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=env,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _facts(owner_url, tenant_id, space_id) -> dict:
    async with owner_db(owner_url, tenant_id) as db:

        async def one(sql: str):
            return (
                await db.execute(
                    text(sql), {"t": tenant_id, "s": space_id, "g": encode_id("Space", space_id)}
                )
            ).all()

        return {
            "revisions": len(
                await one("SELECT id FROM space_revisions WHERE tenant_id = :t AND space_id = :s")
            ),
            "events": len(
                await one(
                    "SELECT id FROM domain_events WHERE tenant_id = :t AND topic = 'space.published' AND payload->>'id' = :g"
                )
            ),
            "schedules": [
                tuple(r)
                for r in await one(
                    "SELECT action, done_at IS NOT NULL, outcome FROM space_schedules WHERE tenant_id = :t AND space_id = :s ORDER BY run_at"
                )
            ],
            "audit": [
                tuple(r)
                for r in await one(
                    "SELECT operation, principal_kind, principal_id FROM audit_log WHERE tenant_id = :t AND operation = 'space_publish'"
                )
            ],
        }


async def test_two_workers_and_a_killed_one_publish_once(api, new_tenant, owner_url, settings):
    # given a draft with a publish scheduled a moment from now
    t = await new_tenant("Once")
    space = (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=2))[0]
    gid = encode_id("Space", space)
    set_ = await api(t.token)(SCHEDULE, {"input": {"spaceId": gid, "publishAt": _at(seconds=1)}})
    assert set_["data"]["spaceSchedule"]["userErrors"] == []
    await asyncio.sleep(1.2)

    # when a worker publishes it in its transaction and is killed before committing
    held = await _worker_process(settings, "tests/held_schedule_worker.py")
    try:
        line = await asyncio.wait_for(held.stdout.readline(), timeout=60)
        assert line.decode().strip() == "HELD", (line, await held.stderr.read())
        # while it holds the schedule, another worker skips it
        engine = make_engine(settings.app_url(), pool_size=2, max_overflow=0)
        try:
            assert await run_schedules(sessionmaker_for(engine)) == 0
        finally:
            await engine.dispose()
        assert (await _facts(owner_url, t.tenant_id, space))["revisions"] == 0
    finally:
        os.kill(held.pid, signal.SIGKILL)
        await held.wait()
    assert held.returncode == -signal.SIGKILL
    killed = await _facts(owner_url, t.tenant_id, space)
    assert killed["revisions"] == 0 and killed["events"] == 0
    assert killed["schedules"] == [("publish", False, None)]

    # and two workers run at once afterwards
    workers = [
        await _worker_process(settings, "server.py", "worker", "--once", "--no-migrate")
        for _ in range(2)
    ]
    outputs = [await w.communicate() for w in workers]
    for w, (_out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err.decode()

    # then it was published exactly once, as the member who set the schedule
    done = await _facts(owner_url, t.tenant_id, space)
    assert done["revisions"] == 1 and done["events"] == 1
    assert done["schedules"] == [("publish", True, "published")]
    assert [(op, kind) for op, kind, _who in done["audit"]] == [("space_publish", "member")]
    assert (await api(t.token)(STATE, {"id": gid}))["data"]["space"]["state"] == "PUBLISHED"


async def test_a_scheduled_unpublish_withdraws_the_revision(api, new_tenant, owner_url, settings):
    t = await new_tenant("Unpub")
    space = (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=1))[0]
    gid, owner = encode_id("Space", space), api(t.token)
    published = await owner(
        "mutation($id: ID!) { spacePublish(id: $id) { userErrors { code } } }", {"id": gid}
    )
    assert published["data"]["spacePublish"]["userErrors"] == []
    await owner(SCHEDULE, {"input": {"spaceId": gid, "unpublishAt": _at(seconds=1)}})
    await asyncio.sleep(1.2)
    engine = make_engine(settings.app_url(), pool_size=2, max_overflow=0)
    try:
        await run_schedules(sessionmaker_for(engine))
        assert await run_schedules(sessionmaker_for(engine)) == 0  # done: never again
    finally:
        await engine.dispose()
    facts = await _facts(owner_url, t.tenant_id, space)
    assert facts["schedules"] == [("unpublish", True, "unpublished")]
    assert facts["revisions"] == 1  # the revision stays in the history
    assert (await owner(STATE, {"id": gid}))["data"]["space"]["state"] != "PUBLISHED"
