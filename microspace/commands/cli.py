"""`microspace <command>`: serve the API and operate tenants from the same codebase.

Over 300 lines on purpose: one thin function per operator command (its arguments and JSON
output); the work is in the modules they call, `serve`'s in microspace/commands/serve.py.
`--help` shows DESCRIPTION, not this note.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from dataclasses import replace
from typing import Any, NoReturn

from core.config import ConfigError, Settings, load_settings
from microspace.commands.tenants import OperatorError

DESCRIPTION = (
    "Serve the Microspace API and operate its tenants. Every command applies pending "
    "migrations first. Without DATABASE_URL it works on an embedded PostgreSQL under .data/."
)


def _settings_with_database() -> tuple[Settings, bool]:
    """Settings with a database: DATABASE_URL, APP_DATABASE_URL alone (the API and the
    worker in compose), or the embedded server, started when neither is set."""
    settings = load_settings()
    # the API and the worker may hold only the application role's login (APP_DATABASE_URL)
    embedded = not settings.database_url and not settings.app_database_url
    if embedded:
        from pathlib import Path

        from core.devdb import embedded_url

        data_dir = settings.embedded_data_dir
        url = embedded_url(Path(data_dir)) if data_dir else embedded_url()
        os.environ["DATABASE_URL"] = url
        settings = replace(settings, database_url=url)
    if not settings.secret_key and (embedded or settings.dev_mode):
        from core.devdb import installation_secret

        settings = replace(settings, secret_key=installation_secret())
    return settings, embedded


def _migrate(settings: Settings) -> None:
    from core.migrate import migrate

    asyncio.run(migrate(settings.owner_url(), settings.app_db_password))


def cmd_serve(args: argparse.Namespace) -> int:
    from microspace.commands.serve import serve

    settings, embedded = _settings_with_database()
    if not embedded:
        return serve(args, settings, embedded, _migrate)
    # the embedded PostgreSQL stops with the server, on Ctrl-C and on SIGTERM alike: uvicorn
    # re-raises the signal once it has shut down, and SIGTERM's default would end the
    # process without running any cleanup
    from core.devdb import stop_embedded

    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return serve(args, settings, embedded, _migrate)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_embedded()
        print("embedded PostgreSQL stopped", flush=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_migrate(_: argparse.Namespace) -> int:
    settings, _created = _settings_with_database()
    _migrate(settings)
    print("migrations applied")
    return 0


def cmd_seed_demo(_: argparse.Namespace) -> int:
    from microspace.commands.tenants import seed_demo

    settings, _created = _settings_with_database()
    _migrate(settings)
    created = asyncio.run(seed_demo(settings.owner_url()))
    print(json.dumps(created.as_json()))
    return 0


def cmd_tenant_create(args: argparse.Namespace) -> int:
    from microspace.commands.tenants import create_tenant

    settings, _created = _settings_with_database()
    _migrate(settings)
    created = asyncio.run(create_tenant(settings.owner_url(), args.name, args.owner_email))
    print(json.dumps(created.as_json()))
    return 0


def cmd_member_create(args: argparse.Namespace) -> int:
    from microspace.commands.tenants import create_member

    settings, _created = _settings_with_database()
    _migrate(settings)
    created = asyncio.run(create_member(settings.owner_url(), args.tenant, args.email, args.role))
    print(json.dumps(created.as_json()))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from microspace.jobs.worker import run

    settings, _created = _settings_with_database()
    if not args.no_migrate:
        _migrate(settings)
    try:
        stats = asyncio.run(run(settings, once=args.once))
    except KeyboardInterrupt:
        # safe at any point: an e-mail is marked sent only in the transaction that sent it
        return 0
    if args.once:
        print(
            json.dumps(
                {
                    "sent": stats.sent,
                    "cancelled": stats.cancelled,
                    "retried": stats.retried,
                    "dead": stats.dead,
                }
            )
        )
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from microspace.jobs.worker import retention_once

    settings, _created = _settings_with_database()
    if args.grace_days is not None:
        if args.grace_days < 0:
            raise OperatorError("--grace-days must not be negative")
        settings = replace(settings, retention_grace_days=args.grace_days)
    _migrate(settings)
    purged = asyncio.run(retention_once(settings))
    print(json.dumps({"purged_tenant_ids": [str(t) for t in purged]}))
    return 0


def cmd_erasure_journal(args: argparse.Namespace) -> int:
    from microspace.commands.erasure_ops import export_journal

    settings, _ = _settings_with_database()
    _migrate(settings)
    return export_journal(settings, args)


def cmd_erasure_replay(args: argparse.Namespace) -> int:
    from microspace.commands.erasure_ops import replay_journal

    settings, _ = _settings_with_database()
    _migrate(settings)
    return replay_journal(settings, args)


def cmd_plan_set(args: argparse.Namespace) -> int:
    from microspace.commands import plans

    settings, _ = _settings_with_database()
    _migrate(settings)
    return plans.run(settings, args)


def cmd_schema(args: argparse.Namespace) -> int:
    from microspace.web.sdl import SCHEMA_FILE, printed_schema

    sdl = printed_schema()
    if args.write:
        SCHEMA_FILE.write_text(sdl)
        print(f"wrote {SCHEMA_FILE.name}")
    else:
        sys.stdout.write(sdl)
    return 0


def cmd_key_create(args: argparse.Namespace) -> int:
    from microspace.commands.keys import create_key

    settings, _ = _settings_with_database()
    _migrate(settings)
    spec = {
        "kind": args.kind,
        "name": args.name,
        "scopes": args.scope,
        "expires": args.expires,
        "spaces": args.space,
        "origins": args.origin,
    }
    print(json.dumps(asyncio.run(create_key(settings.owner_url(), args.tenant, spec))))
    return 0


def cmd_key_list(args: argparse.Namespace) -> int:
    from microspace.commands.keys import list_keys

    settings, _ = _settings_with_database()
    _migrate(settings)
    print(json.dumps(asyncio.run(list_keys(settings.owner_url(), args.tenant))))
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    from microspace.commands.keys import revoke

    settings, _ = _settings_with_database()
    _migrate(settings)
    print(json.dumps(asyncio.run(revoke(settings.owner_url(), args.tenant, args.id))))
    return 0


TENANT = "The tenant's id (a UUID, as tenant-create prints it)."


def _key_commands(sub: Any) -> None:
    """key-create, key-list, key-revoke: twins of apiKeyCreate, apiKeys, apiKeyRevoke."""
    kc = sub.add_parser(
        "key-create",
        help="Issue a partner or widget key and print it as JSON (the secret only this once).",
    )
    kc.add_argument("--tenant", required=True, help=TENANT)
    kc.add_argument("--kind", required=True, help="partner or widget.")
    kc.add_argument("--name", required=True, help="A name to tell the key apart.")
    kc.add_argument("--scope", action="append", default=[], help="A scope; repeat for several.")
    kc.add_argument("--expires", help="When the key stops working (ISO 8601 date-time).")
    kc.add_argument(
        "--space", action="append", default=[], help="For a widget key: a Space ID it may read."
    )
    kc.add_argument(
        "--origin",
        action="append",
        default=[],
        help="For a widget key: a page origin it may be used from (scheme://host[:port]).",
    )
    kc.set_defaults(func=cmd_key_create)
    kl = sub.add_parser("key-list", help="List a tenant's partner and widget keys as JSON.")
    kl.add_argument("--tenant", required=True, help=TENANT)
    kl.set_defaults(func=cmd_key_list)
    kr = sub.add_parser("key-revoke", help="Revoke a key now, in every process; print JSON.")
    kr.add_argument("--tenant", required=True, help=TENANT)
    kr.add_argument("--id", required=True, help="The key's ID, as key-list prints it.")
    kr.set_defaults(func=cmd_key_revoke)


def cmd_document_register(args: argparse.Namespace) -> int:
    from microspace.commands.widget_admin import register_document_cli

    settings, _ = _settings_with_database()
    _migrate(settings)
    with open(args.file, encoding="utf-8") as f:
        document = f.read()
    result = asyncio.run(register_document_cli(settings.owner_url(), args.tenant, document))
    print(json.dumps(result))
    return 0


def cmd_tenant_web(args: argparse.Namespace) -> int:
    from microspace.commands.widget_admin import set_tenant_web

    settings, _ = _settings_with_database()
    _migrate(settings)
    origins = [] if args.no_cors_origins else (args.cors_origin or None)
    result = asyncio.run(
        set_tenant_web(settings.owner_url(), args.tenant, origins, args.visitor_url)
    )
    print(json.dumps(result))
    return 0


def _widget_commands(sub: Any) -> None:
    """document-register (twin of persistedDocumentRegister) and tenant-web (docs/widget.md)."""
    dr = sub.add_parser(
        "document-register", help="Trust a GraphQL document for the tenant's widgets."
    )
    dr.add_argument("--tenant", required=True, help=TENANT)
    dr.add_argument("--file", required=True, help="A file holding the document's exact text.")
    dr.set_defaults(func=cmd_document_register)
    tw = sub.add_parser(
        "tenant-web", help="Set a tenant's CORS origins and its invitation landing page."
    )
    tw.add_argument("--tenant", required=True, help=TENANT)
    tw.add_argument(
        "--cors-origin",
        action="append",
        help="An origin member tokens may be used from; repeat for several (replaces the list).",
    )
    tw.add_argument("--no-cors-origins", action="store_true", help="Same-origin requests only.")
    tw.add_argument("--visitor-url", help="The page that embeds the widget ('' to clear it).")
    tw.set_defaults(func=cmd_tenant_web)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is the one `error: ...` line the README promises."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="microspace", description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", metavar="<command>")
    serve = sub.add_parser(
        "serve", help="Apply pending migrations and serve the API (the default command)."
    )
    serve.add_argument("--host", help="The address to listen on (default: MICROSPACE_HOST).")
    serve.add_argument("--port", type=int, help="The port to listen on (default: MICROSPACE_PORT).")
    serve.add_argument(
        "--demo", action="store_true", help="Seed the demo tenant, whatever the database."
    )
    serve.add_argument(
        "--no-migrate", action="store_true", help="Leave migrations to a separate job."
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        help="Development mode (GraphiQL on), whatever the database.",
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="Apply pending database migrations.").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser(
        "seed-demo", help="Create the demo tenant if needed and print a new owner token."
    ).set_defaults(func=cmd_seed_demo)
    tc = sub.add_parser("tenant-create", help="Create a tenant and its owner; print JSON.")
    tc.add_argument("--name", required=True, help="The tenant's name.")
    tc.add_argument("--owner-email", required=True, help="The owner's e-mail address.")
    tc.set_defaults(func=cmd_tenant_create)
    rt = sub.add_parser(
        "retention",
        help="Erase the personal data of tenants whose subscription ended past the grace "
        "period; print JSON.",
    )
    rt.add_argument(
        "--grace-days", type=int, help="Days of grace (default: MICROSPACE_RETENTION_GRACE_DAYS)."
    )
    rt.set_defaults(func=cmd_retention)
    mc = sub.add_parser("member-create", help="Add a member to a tenant; print JSON.")
    mc.add_argument("--tenant", required=True, help=TENANT)
    mc.add_argument("--email", required=True, help="The member's e-mail address.")
    mc.add_argument(
        "--role", required=True, help="owner, admin, editor, viewer or privacy_officer."
    )
    mc.set_defaults(func=cmd_member_create)
    wk = sub.add_parser("worker", help="Send queued e-mail and deliver webhooks, until stopped.")
    wk.add_argument(
        "--once", action="store_true", help="Send what is due now, print JSON and exit."
    )
    wk.add_argument("--no-migrate", action="store_true", help="Leave migrations to a separate job.")
    wk.set_defaults(func=cmd_worker)
    ps = sub.add_parser("plan-set", help="Set a tenant's plan and its limits; print JSON.")
    from microspace.commands.plans import add_arguments

    add_arguments(ps)
    ps.set_defaults(func=cmd_plan_set)
    ej = sub.add_parser(
        "erasure-journal", help="Print the erasure journal as JSON lines, for safe keeping."
    )
    ej.add_argument("--since", help="Only entries from this time on (ISO 8601).")
    ej.set_defaults(func=cmd_erasure_journal)
    er = sub.add_parser(
        "erasure-replay",
        help="After restoring a backup, erase again what the journal lists since it was taken.",
    )
    er.add_argument("--since", required=True, help="When the restored backup was taken (ISO 8601).")
    er.add_argument(
        "--journal", required=True, help="JSON lines from erasure-journal ('-': standard input)."
    )
    er.set_defaults(func=cmd_erasure_replay)
    _key_commands(sub)
    sc = sub.add_parser("schema", help="Print the GraphQL schema (SDL) the API serves.")
    sc.add_argument("--write", action="store_true", help="Write it to schema.graphql instead.")
    sc.set_defaults(func=cmd_schema)
    _widget_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "serve")  # plain `python server.py [--port N]` serves
    args = parser().parse_args(argv)
    from microspace.web.logs import configure_logging

    settings = load_settings()
    # the long-running commands log at the configured level (`serve` in development for a
    # terminal: microspace/commands/serve.py); one-shot commands print their result and log
    # only warnings
    long_running = args.command == "serve" or (
        args.command == "worker" and not getattr(args, "once", False)
    )
    level = settings.log_level if long_running else "WARNING"
    configure_logging(level, json=settings.log_format.lower() != "console")
    try:
        return int(args.func(args))
    except (OperatorError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
