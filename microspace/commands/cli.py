"""`microspace <command>`: serve the API and operate tenants from the same codebase.

Over 300 lines on purpose: one thin function per operator command (arguments and JSON
output); the work is in the modules they call.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import sys
from dataclasses import replace
from typing import Any

from core.config import ConfigError, Settings, load_settings
from microspace.commands.tenants import OperatorError


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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_settings(settings: Settings, *, embedded: bool, host: str, dev: bool) -> Settings:
    """Production unless asked; refuse what would expose the installation's own key.

    Development mode (GraphiQL, the generated key) switches itself on only for the quick
    start: the embedded database on a loopback address, with MICROSPACE_DEV unset.
    """
    explicit = os.environ.get("MICROSPACE_DEV", "").strip() != ""
    quick_start = embedded and is_loopback(host) and not explicit
    settings = replace(settings, dev_mode=dev or settings.dev_mode or quick_start)
    configured = bool(os.environ.get("MICROSPACE_SECRET_KEY"))
    if not configured and not (settings.dev_mode or embedded):
        raise OperatorError("MICROSPACE_SECRET_KEY must be set to serve in production mode")
    if not configured and not is_loopback(host):
        raise OperatorError(
            f"refusing to serve on {host} with the generated per-installation key: "
            "set MICROSPACE_SECRET_KEY"
        )
    for entry in filter(None, (e.strip() for e in settings.trusted_proxies.split(","))):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise OperatorError(
                f"MICROSPACE_TRUSTED_PROXIES: {entry[:60]!r} is not an address or network"
            ) from None
    return settings.with_public_url()


def _migrate(settings: Settings) -> None:
    from core.migrate import migrate

    asyncio.run(migrate(settings.owner_url(), settings.app_db_password))


def cmd_serve(args: argparse.Namespace) -> int:
    settings, embedded = _settings_with_database()
    if not embedded:
        return _serve(args, settings, embedded)
    # the embedded PostgreSQL stops with the server, on Ctrl-C and on SIGTERM alike: uvicorn
    # re-raises the signal once it has shut down, and SIGTERM's default would end the
    # process without running any cleanup
    from core.devdb import stop_embedded

    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return _serve(args, settings, embedded)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_embedded()
        print("embedded PostgreSQL stopped", flush=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _serve(args: argparse.Namespace, settings: Settings, embedded: bool) -> int:
    import uvicorn

    from microspace.app import create_app
    from microspace.commands.tenants import seed_demo

    host = args.host or settings.host
    port = args.port or settings.port
    settings = serve_settings(settings, embedded=embedded, host=host, dev=args.dev)
    if not args.no_migrate:
        _migrate(settings)
    if embedded or args.demo:
        demo = asyncio.run(seed_demo(settings.owner_url()))
        if settings.dev_mode:
            print(f"GraphiQL:   http://{host}:{port}/graphql", flush=True)
        print(f"Demo owner token (shown once): {demo.token}", flush=True)
        print(
            f'Try: curl -s http://{host}:{port}/graphql -H "Authorization: Bearer {demo.token}" '
            "-H 'Content-Type: application/json' "
            '-d \'{"query":"{ spaces { edges { node { title blocks { edges { node { kind body } } } } } } }"}\'',
            flush=True,
        )
    uvicorn.run(create_app(settings), host=host, port=port, **uvicorn_options(settings))
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How `serve` runs uvicorn. Forwarded headers are believed only from the configured
    proxies: uvicorn's own default believes any loopback peer, so a local process could
    choose the address recorded for a sign-in and the rate-limit key of its requests."""
    trusted = settings.trusted_proxies.strip()
    return {
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        # our logging configuration stays; our access line replaces uvicorn's
        "log_config": None,
        "access_log": False,
    }


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


def _key_commands(sub: Any) -> None:
    """key-create, key-list, key-revoke: twins of apiKeyCreate, apiKeys, apiKeyRevoke."""
    kc = sub.add_parser(
        "key-create", help="issue a partner or widget key; print JSON (secret once)"
    )
    kc.add_argument("--tenant", required=True)
    kc.add_argument("--kind", required=True, help="partner or widget")
    kc.add_argument("--name", required=True)
    kc.add_argument("--scope", action="append", default=[], help="repeat for several")
    kc.add_argument("--expires", help="ISO 8601 date-time")
    kc.add_argument("--space", action="append", default=[], help="widget: a Space ID")
    kc.add_argument("--origin", action="append", default=[], help="widget: scheme://host[:port]")
    kc.set_defaults(func=cmd_key_create)
    kl = sub.add_parser("key-list", help="list a tenant's partner and widget keys; print JSON")
    kl.add_argument("--tenant", required=True)
    kl.set_defaults(func=cmd_key_list)
    kr = sub.add_parser("key-revoke", help="revoke a key now, in every process; print JSON")
    kr.add_argument("--tenant", required=True)
    kr.add_argument("--id", required=True)
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
    dr = sub.add_parser("document-register", help="trust a GraphQL document for widgets")
    dr.add_argument("--tenant", required=True)
    dr.add_argument("--file", required=True, help="the document's exact text")
    dr.set_defaults(func=cmd_document_register)
    tw = sub.add_parser("tenant-web", help="a tenant's CORS origins and invitation landing page")
    tw.add_argument("--tenant", required=True)
    tw.add_argument("--cors-origin", action="append", help="repeat; replaces the list")
    tw.add_argument("--no-cors-origins", action="store_true", help="same-origin only")
    tw.add_argument("--visitor-url", help="the page embedding the widget ('' to clear)")
    tw.set_defaults(func=cmd_tenant_web)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="microspace", description=__doc__)
    sub = p.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="apply migrations and serve the API (default)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true", help="seed the demo tenant on any database")
    serve.add_argument(
        "--no-migrate", action="store_true", help="leave migrations to a separate job"
    )
    serve.add_argument(
        "--dev", action="store_true", help="development mode (GraphiQL) on any database"
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser(
        "seed-demo", help="create the demo tenant; print a new owner token"
    ).set_defaults(func=cmd_seed_demo)
    tc = sub.add_parser("tenant-create", help="create a tenant and its owner; print JSON")
    tc.add_argument("--name", required=True)
    tc.add_argument("--owner-email", required=True)
    tc.set_defaults(func=cmd_tenant_create)
    rt = sub.add_parser(
        "retention", help="erase personal data of tenants ended past the grace period; print JSON"
    )
    rt.add_argument("--grace-days", type=int, help="override MICROSPACE_RETENTION_GRACE_DAYS")
    rt.set_defaults(func=cmd_retention)
    mc = sub.add_parser("member-create", help="add a member to a tenant; print JSON")
    mc.add_argument("--tenant", required=True)
    mc.add_argument("--email", required=True)
    mc.add_argument("--role", required=True)
    mc.set_defaults(func=cmd_member_create)
    wk = sub.add_parser("worker", help="send queued e-mail from the outbox (SMTP or file sink)")
    wk.add_argument("--once", action="store_true", help="send what is due now, print JSON, exit")
    wk.add_argument("--no-migrate", action="store_true", help="leave migrations to a separate job")
    wk.set_defaults(func=cmd_worker)
    ps = sub.add_parser("plan-set", help="set a tenant's plan and its limits; print JSON")
    from microspace.commands.plans import add_arguments

    add_arguments(ps)
    ps.set_defaults(func=cmd_plan_set)
    ej = sub.add_parser(
        "erasure-journal", help="print the erasure journal as JSON lines, for safe keeping"
    )
    ej.add_argument("--since", help="only entries from this ISO 8601 time on")
    ej.set_defaults(func=cmd_erasure_journal)
    er = sub.add_parser(
        "erasure-replay", help="erase again what the journal lists, after restoring a backup"
    )
    er.add_argument("--since", required=True, help="when the restored backup was taken")
    er.add_argument(
        "--journal", required=True, help="JSON lines from `erasure-journal` ('-': stdin)"
    )
    er.set_defaults(func=cmd_erasure_replay)
    _key_commands(sub)
    sc = sub.add_parser("schema", help="print the GraphQL schema (SDL) the API serves")
    sc.add_argument("--write", action="store_true", help="write it to schema.graphql instead")
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
    # the long-running commands log JSON lines at the configured level; one-shot commands
    # print their result and log only warnings
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
