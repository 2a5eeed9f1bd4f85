"""ASGI entry for a process manager: `uvicorn --factory microspace.asgi:create`.

Settings come from the environment (core/config.py); migrations are not run here (run
`microspace migrate` first), so any number of server processes can start at once.

Forwarded headers are the server's to believe: uvicorn believes them from any loopback peer
unless told otherwise, so run it with `--no-proxy-headers`, or behind a proxy with
`--forwarded-allow-ips` set to that proxy (what `serve` does from MICROSPACE_TRUSTED_PROXIES).
For subscriptions (docs/live.md) run it with `--ws websockets-sansio
--ws-per-message-deflate false`; `serve` runs a subclass of that protocol with a shorter path
for text frames (microspace/live/server.py), which uvicorn's command line cannot name.
"""

from __future__ import annotations

from starlette.applications import Starlette

from core.config import ConfigError, load_settings
from microspace.app import create_app


def create() -> Starlette:
    """The application, configured from the environment; a setting it cannot start with
    ends the process with one line saying why."""
    try:
        return create_app(load_settings())
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
