"""The operator CLI: stable JSON output that scripts rely on, clear errors for bad input."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def run_cli(
    database_url, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    # development, as the tests' own app: production is the default now (webhooks to
    # loopback receivers would be refused), and the tests' key, not a generated one
    env = {
        "MICROSPACE_DEV": "1",
        "MICROSPACE_SECRET_KEY": "test-only-secret-key",
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        **(env or {}),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "server.py"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_tenant_and_member_create_print_stable_json(database_url, api):
    code, out, err = await run_cli(
        database_url, "tenant-create", "--name", "Globex", "--owner-email", " Boss@Globex.example "
    )
    assert code == 0, err
    tenant = json.loads(out)
    assert set(tenant) == {"tenant_id", "member_id", "role", "token"} and tenant["role"] == "owner"

    code, out, err = await run_cli(
        database_url,
        "member-create",
        "--tenant",
        tenant["tenant_id"],
        "--email",
        "ed@globex.example",
        "--role",
        "editor",
    )
    assert code == 0, err
    member = json.loads(out)
    assert member["tenant_id"] == tenant["tenant_id"] and member["role"] == "editor"

    viewer = (await api(member["token"])("{ viewer { email roles tenantName } }"))["data"]["viewer"]
    assert viewer == {"email": "ed@globex.example", "roles": ["editor"], "tenantName": "Globex"}
    owner = (await api(tenant["token"])("{ viewer { email } }"))["data"]["viewer"]
    assert owner == {"email": "boss@globex.example"}


async def test_cli_bad_input_exits_2_with_one_line(database_url, new_tenant):
    tenant = await new_tenant()
    cases = [
        (
            "member-create",
            "--tenant",
            str(tenant.tenant_id),
            "--email",
            "x@example.com",
            "--role",
            "god",
        ),
        ("member-create", "--tenant", "not-a-uuid", "--email", "x@example.com", "--role", "viewer"),
        (
            "member-create",
            "--tenant",
            "00000000-0000-4000-8000-000000000000",
            "--email",
            "x@example.com",
            "--role",
            "viewer",
        ),
        ("tenant-create", "--name", "N", "--owner-email", "not-an-email"),
        ("tenant-create", "--name", " ", "--owner-email", "a@example.com"),
    ]
    for args in cases:
        code, out, err = await run_cli(database_url, *args)
        assert code == 2, (args, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and out == ""
