"""`serve`: production unless asked, and a quiet quick start.

Development mode logs for a person at a terminal (`MICROSPACE_LOG_FORMAT` unset), and the
GraphiQL URL and the demo owner token are the last lines printed, once uvicorn listens. The
demo token is kept next to the embedded database (mode 0600) and reused at every start
while it is live, so restarts do not pile up owner tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.config import Settings
from microspace.commands.tenants import OperatorError

QUERY = "{ spaces { edges { node { title blocks { edges { node { kind body } } } } } } }"


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


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How `serve` runs uvicorn. Forwarded headers are believed only from the configured
    proxies: uvicorn's own default believes any loopback peer, so a local process could
    choose the address recorded for a sign-in and the rate-limit key of its requests."""
    from microspace.live.server import LiveWebSocketProtocol

    trusted = settings.trusted_proxies.strip()
    return {
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        # our logging configuration stays; our access line replaces uvicorn's
        "log_config": None,
        "access_log": False,
        # live updates (docs/live.md): no per-message compression (a zlib context per socket
        # cost ~60 KiB each and the CPU of compressing one payload once per subscriber), and
        # the sans-I/O WebSocket protocol, which keeps no tasks of its own per connection,
        # with a shorter path for a text frame (microspace/live/server.py)
        "ws": LiveWebSocketProtocol,
        "ws_per_message_deflate": False,
    }


def serve(
    args: argparse.Namespace,
    settings: Settings,
    embedded: bool,
    migrate: Callable[[Settings], None],
) -> int:
    import uvicorn

    from microspace.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    settings = serve_settings(settings, embedded=embedded, host=host, dev=args.dev)
    if settings.dev_mode and not os.environ.get("MICROSPACE_LOG_FORMAT"):
        from microspace.web.logs import configure_logging

        # a terminal, not a log collector: lines a person reads
        configure_logging(settings.log_level, json=False)
    if not args.no_migrate:
        migrate(settings)
    banner = demo_banner(settings, host, port) if embedded or args.demo else []
    config = uvicorn.Config(create_app(settings), host=host, port=port, **uvicorn_options(settings))
    server = _server_printing(config, banner)
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # as uvicorn.run: Ctrl-C is a normal stop
    # as uvicorn.run: a server that never listened (port taken) is a failed start
    return 0 if server.started else 3


def _server_printing(config: Any, banner: list[str]) -> Any:
    """A uvicorn server that prints `banner` once it listens: after its own start-up lines."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                print("\n".join(banner), flush=True)

    return Server(config)


def demo_banner(settings: Settings, host: str, port: int) -> list[str]:
    """Seed the demo tenant; the lines that tell how to use it, its token kept for reuse."""
    from microspace.commands.tenants import seed_demo

    path = demo_token_file(settings)
    kept = kept_token(path)
    demo = asyncio.run(seed_demo(settings.owner_url(), kept))
    if demo.token != kept:
        keep_token(path, demo.token)
    url = f"http://{host}:{port}/graphql"
    lines = [""]
    if settings.dev_mode:
        lines.append(f"GraphiQL:         {url}")
    lines += [
        f"Demo owner token: {demo.token}",
        f"                  (kept in {path}; reused at each start until it expires)",
        (
            f'Try: curl -s {url} -H "Authorization: Bearer {demo.token}" '
            f"-H 'Content-Type: application/json' -d '{{\"query\":\"{QUERY}\"}}'"
        ),
    ]
    return lines


def demo_token_file(settings: Settings) -> Path:
    """Beside the embedded database's directory (`.data/demo-token` by default)."""
    from core.devdb import DEFAULT_DATA_DIR

    data = Path(settings.embedded_data_dir) if settings.embedded_data_dir else DEFAULT_DATA_DIR
    return data.parent / "demo-token"


def kept_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def keep_token(path: Path, token: str) -> None:
    """Write the token readable by its owner only, an older file's mode notwithstanding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
