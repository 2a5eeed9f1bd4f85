"""The operator CLI: stable JSON output that scripts rely on, clear errors for bad input."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import threading
import traceback
from pathlib import Path

from microspace.commands.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _cli_env(database_url, env: dict[str, str] | None) -> dict[str, str]:
    # development, as the tests' own app: production is the default now (webhooks to
    # loopback receivers would be refused), and the tests' key, not a generated one
    return {
        "MICROSPACE_DEV": "1",
        "MICROSPACE_SECRET_KEY": "test-only-secret-key",
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        **(env or {}),
    }


async def run_cli(
    database_url, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """`microspace <args>` in this process: exit code, stdout, stderr. A new interpreter costs
    over a second; each command family also has one test through `run_cli_process`."""
    return await asyncio.to_thread(_main_in_process, _cli_env(database_url, env), list(args))


# one at a time: the swapped environment and streams are process-wide
_IN_PROCESS = threading.Lock()


def _main_in_process(environ: dict[str, str], argv: list[str]) -> tuple[int, str, str]:
    # the CLI reads os.environ, prints to sys.stdout/stderr and sets the root logger up: all
    # three are the process's, so they are swapped for the call and put back after it
    with _IN_PROCESS:
        return _swapped(environ, argv)


def _swapped(environ: dict[str, str], argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved_env = dict(os.environ)
    root = logging.getLogger()
    saved_logging = (root.handlers[:], root.level)
    os.environ.update(environ)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors, `serve`'s signal exit
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except Exception:  # noqa: BLE001 - as the interpreter: a traceback, status 1
                traceback.print_exc()
                code = 1
    finally:
        for name in set(os.environ) - set(saved_env):
            del os.environ[name]
        os.environ.update(saved_env)
        root.handlers, root.level = saved_logging
    return code, out.getvalue(), err.getvalue()


async def run_cli_process(
    database_url, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """`python server.py <args>` in a new interpreter, as an operator runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "server.py"),
        *args,
        env=_cli_env(database_url, env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_tenant_and_member_create_print_stable_json(database_url, api):
    # in a new interpreter: the tenant commands' smoke test as an operator runs them
    code, out, err = await run_cli_process(
        database_url, "tenant-create", "--name", "Globex", "--owner-email", " Boss@Globex.example "
    )
    assert code == 0, err
    tenant = json.loads(out)
    assert set(tenant) == {"tenant_id", "member_id", "role", "token"} and tenant["role"] == "owner"

    code, out, err = await run_cli_process(
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


async def test_usage_errors_print_one_error_line(database_url):
    cases = [
        ("key-create",),  # three required options missing
        ("member-create", "--tenant", "t", "--email", "x@example.com"),
        ("serve", "--port", "eighty"),
        ("no-such-command",),
    ]
    for args in cases:
        code, out, err = await run_cli(database_url, *args)
        assert code == 2 and out == "", (args, out, err)
        # one line, as the README promises, naming what to read next
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)
        assert "--help" in err and "usage:" not in err


def test_help_texts_are_plain_sentences():
    from microspace.commands.cli import parser

    top = parser()
    text = top.format_help()
    assert "on purpose" not in text and "300 lines" not in text
    commands = next(a for a in top._actions if a.choices)
    for action in commands._choices_actions:
        assert action.help and action.help[0].isupper() and action.help.endswith("."), action
    for name, sub in commands.choices.items():
        for option in sub._actions:
            if option.dest != "help":
                assert option.help and option.help.endswith("."), (name, option.dest)


async def test_key_errors_are_sentences_naming_the_options(database_url, new_tenant):
    tenant = str((await new_tenant()).tenant_id)
    code, out, err = await run_cli(
        database_url,
        *("key-create", "--tenant", tenant, "--kind", "partner", "--name", "Sync"),
        *("--expires", "2001-01-01T00:00:00Z"),
    )
    assert code == 2 and out == ""
    assert err == "error: Give at least one scope. --expires must be in the future.\n"
    code, out, err = await run_cli(database_url, "key-revoke", "--tenant", tenant, "--id", "x")
    assert code == 2 and err == "error: --id 'x': The ID given is not an API key ID.\n"
