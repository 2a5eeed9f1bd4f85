"""Settings read from the environment, once, with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

APP_ROLE = "microspace_app"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def async_url(url: str) -> URL:
    """A PostgreSQL URL for SQLAlchemy's asyncpg dialect, whatever scheme it came with."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    app_database_url: str | None = None
    app_db_password: str = "microspace_app"
    dev_mode: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    default_page_size: int = 20
    max_page_size: int = 100
    pool_size: int = 10
    max_overflow: int = 5
    # abuse limits (docs/limits.md): each answers with an error code naming it
    max_depth: int = 8
    max_aliases: int = 15
    max_directives: int = 50
    max_tokens: int = 2000
    max_document_chars: int = 15_000
    max_body_bytes: int = 1_048_576
    # 50 spaces with 20 blocks and 20 contacts each cost 22,500; 100 spaces 45,000
    max_cost: int = 50_000
    # list entries a response may hold (nested pages multiply): 100 x 100 is refused
    max_nodes: int = 10_000
    # graphql-core's overlapping-fields budget: repeated fields cost quadratic validation work
    max_validation_work: int = 20_000
    allow_get_queries: bool = False
    # answer supported queries with one SQL statement building the JSON (compiler/)
    compiled_reads: bool = True
    statement_timeout: float = 5.0
    execution_timeout: float = 10.0
    # token bucket per principal (per client IP when anonymous), in cost points, per process
    # one token may load a 50-space page (cost 22,500) 10 times a second (docs/limits.md)
    rate_limit_burst: int = 500_000
    rate_limit_rate: float = 250_000.0
    # e-mail outbox and its worker (docs/contacts.md)
    mail_sender: str = "file"
    mail_dir: str = "outbox-mail"
    mail_from: str = "Microspace <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_timeout: float = 30.0
    outbox_max_attempts: int = 8
    outbox_backoff_seconds: float = 30.0
    worker_poll_seconds: float = 5.0
    # privacy engine (docs/privacy.md): signs export links and keys the suppression HMAC
    secret_key: str | None = None
    export_link_ttl: float = 3600.0
    retention_grace_days: int = 30

    def owner_url(self) -> URL:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set and no embedded server was started")
        return async_url(self.database_url)

    def secret(self) -> bytes:
        """The key for export links and suppression hashes; required outside development."""
        if self.secret_key:
            return self.secret_key.encode()
        if self.dev_mode:
            return b"microspace-development-only-secret"
        raise RuntimeError("MICROSPACE_SECRET_KEY must be set when MICROSPACE_DEV is off")

    def app_url(self) -> URL:
        """The application's own login: a role that owns nothing and cannot bypass RLS."""
        if self.app_database_url:
            return async_url(self.app_database_url)
        return self.owner_url().set(username=APP_ROLE, password=self.app_db_password)


def load_settings() -> Settings:
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or None,
        app_database_url=os.environ.get("APP_DATABASE_URL") or None,
        app_db_password=os.environ.get("MICROSPACE_APP_DB_PASSWORD", "microspace_app"),
        dev_mode=_bool("MICROSPACE_DEV", True),
        host=os.environ.get("MICROSPACE_HOST", "127.0.0.1"),
        port=_int("MICROSPACE_PORT", 8000),
        default_page_size=_int("MICROSPACE_DEFAULT_PAGE_SIZE", 20),
        max_page_size=_int("MICROSPACE_MAX_PAGE_SIZE", 100),
        pool_size=_int("MICROSPACE_DB_POOL_SIZE", 10),
        max_overflow=_int("MICROSPACE_DB_MAX_OVERFLOW", 5),
        max_depth=_int("MICROSPACE_MAX_DEPTH", 8),
        max_aliases=_int("MICROSPACE_MAX_ALIASES", 15),
        max_directives=_int("MICROSPACE_MAX_DIRECTIVES", 50),
        max_tokens=_int("MICROSPACE_MAX_TOKENS", 2000),
        max_document_chars=_int("MICROSPACE_MAX_DOCUMENT_CHARS", 15_000),
        max_body_bytes=_int("MICROSPACE_MAX_BODY_BYTES", 1_048_576),
        max_cost=_int("MICROSPACE_MAX_COST", 50_000),
        max_nodes=_int("MICROSPACE_MAX_NODES", 10_000),
        max_validation_work=_int("MICROSPACE_MAX_VALIDATION_WORK", 20_000),
        allow_get_queries=_bool("MICROSPACE_ALLOW_GET_QUERIES", False),
        compiled_reads=_bool("MICROSPACE_COMPILED_READS", True),
        statement_timeout=_float("MICROSPACE_STATEMENT_TIMEOUT", 5.0),
        execution_timeout=_float("MICROSPACE_EXECUTION_TIMEOUT", 10.0),
        rate_limit_burst=_int("MICROSPACE_RATE_LIMIT_BURST", 500_000),
        rate_limit_rate=_float("MICROSPACE_RATE_LIMIT_RATE", 250_000.0),
        mail_sender=os.environ.get("MICROSPACE_MAIL_SENDER", "file"),
        mail_dir=os.environ.get("MICROSPACE_MAIL_DIR", "outbox-mail"),
        mail_from=os.environ.get("MICROSPACE_MAIL_FROM", "Microspace <no-reply@localhost>"),
        smtp_host=os.environ.get("MICROSPACE_SMTP_HOST", "localhost"),
        smtp_port=_int("MICROSPACE_SMTP_PORT", 587),
        smtp_username=os.environ.get("MICROSPACE_SMTP_USERNAME") or None,
        smtp_password=os.environ.get("MICROSPACE_SMTP_PASSWORD") or None,
        smtp_starttls=_bool("MICROSPACE_SMTP_STARTTLS", True),
        smtp_timeout=_float("MICROSPACE_SMTP_TIMEOUT", 30.0),
        outbox_max_attempts=_int("MICROSPACE_OUTBOX_MAX_ATTEMPTS", 8),
        outbox_backoff_seconds=_float("MICROSPACE_OUTBOX_BACKOFF_SECONDS", 30.0),
        worker_poll_seconds=_float("MICROSPACE_WORKER_POLL_SECONDS", 5.0),
        secret_key=os.environ.get("MICROSPACE_SECRET_KEY") or None,
        export_link_ttl=_float("MICROSPACE_EXPORT_LINK_TTL", 3600.0),
        retention_grace_days=_int("MICROSPACE_RETENTION_GRACE_DAYS", 30),
    )
