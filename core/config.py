"""Settings read from the environment, once. Each is declared once, in `Settings`: name,
type, default, environment variable and meaning; `load_settings`, `Limits` and the README's
configuration table are derived from the declarations.

Longer than most modules: one declaration per setting, and nothing else.
"""

from __future__ import annotations

import os
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url

APP_ROLE = "microspace_app"
DEV_PUBLIC_URL = "http://localhost:8000"
T = TypeVar("T")


class ConfigError(ValueError):
    """A setting a process cannot start with; the message is one line saying why."""


def async_url(url: str) -> URL:
    """A PostgreSQL URL for SQLAlchemy's asyncpg dialect, whatever scheme it came with."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


def setting(default: T, env: str, meaning: str, shown: str | None = None) -> T:
    """Declare a setting: its default, environment variable and one-line meaning (the README
    row). `shown` replaces the default in the README where the value itself says little."""
    metadata = {"env": env, "meaning": meaning, "shown": shown}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once: name and type here, the rest in `setting(...)`."""

    database_url: str | None = setting(
        None, "DATABASE_URL", "owner connection: migrations, CLI", shown="embedded server"
    )
    app_database_url: str | None = setting(
        None,
        "APP_DATABASE_URL",
        "the API's own login (owns nothing, no BYPASSRLS)",
        shown="`DATABASE_URL` with user `microspace_app`",
    )
    app_db_password: str = setting(
        "microspace_app",
        "MICROSPACE_APP_DB_PASSWORD",
        "password set on the application role by `migrate`",
    )
    # production unless asked: `serve` turns it on by itself only for the quick start
    # (embedded database, loopback address); see microspace/commands/cli.py
    dev_mode: bool = setting(
        False,
        "MICROSPACE_DEV",
        "development mode (GraphiQL on)",
        shown="`false` (on by itself only for the quick start: embedded database, loopback)",
    )
    host: str = setting("127.0.0.1", "MICROSPACE_HOST", "where `serve` listens")
    port: int = setting(8000, "MICROSPACE_PORT", "the port `serve` listens on")
    default_page_size: int = setting(
        20, "MICROSPACE_DEFAULT_PAGE_SIZE", "page size when `first` is omitted"
    )
    max_page_size: int = setting(
        100,
        "MICROSPACE_MAX_PAGE_SIZE",
        "largest `first` accepted (above: `PAGE_SIZE_LIMIT`)",
    )
    pool_size: int = setting(10, "MICROSPACE_DB_POOL_SIZE", "connection pool per process")
    max_overflow: int = setting(
        5, "MICROSPACE_DB_MAX_OVERFLOW", "connections over the pool size, per process"
    )
    # abuse limits (docs/limits.md): each answers with an error code naming it
    max_depth: int = setting(8, "MICROSPACE_MAX_DEPTH", "document depth (`DEPTH_LIMIT`)")
    max_aliases: int = setting(15, "MICROSPACE_MAX_ALIASES", "aliases per document (`ALIAS_LIMIT`)")
    max_directives: int = setting(
        50, "MICROSPACE_MAX_DIRECTIVES", "directives per document (`DIRECTIVE_LIMIT`)"
    )
    max_tokens: int = setting(2000, "MICROSPACE_MAX_TOKENS", "tokens per document (`TOKEN_LIMIT`)")
    max_document_chars: int = setting(
        15_000,
        "MICROSPACE_MAX_DOCUMENT_CHARS",
        "characters per document (`DOCUMENT_SIZE_LIMIT`)",
    )
    max_body_bytes: int = setting(
        1_048_576, "MICROSPACE_MAX_BODY_BYTES", "request body size (HTTP 413 `BODY_SIZE_LIMIT`)"
    )
    # 50 spaces with 20 blocks and 20 contacts each cost 22,500; 100 spaces 45,000
    max_cost: int = setting(
        50_000, "MICROSPACE_MAX_COST", "query cost before execution (`COST_LIMIT`)"
    )
    # list entries a response may hold (nested pages multiply): 100 x 100 is refused
    max_nodes: int = setting(
        10_000,
        "MICROSPACE_MAX_NODES",
        "list entries a response may hold, nested pages multiplied (`NODE_LIMIT`)",
    )
    # graphql-core's overlapping-fields budget: repeated fields cost quadratic validation work
    max_validation_work: int = setting(
        20_000,
        "MICROSPACE_MAX_VALIDATION_WORK",
        "graphql-core's field-comparison budget (`VALIDATION_WORK_LIMIT`)",
    )
    # automatic persisted queries (docs/limits.md): 500 x 8,000 bounds a tenant's store at
    # ~4 MB; Apollo sends printed documents (no comments), so real ones are far smaller
    apq_max_documents: int = setting(
        500,
        "MICROSPACE_APQ_MAX_DOCUMENTS",
        "automatic persisted queries kept per tenant, the least recently used evicted "
        "(trusted documents not counted; 0: none kept)",
    )
    apq_max_document_chars: int = setting(
        8_000,
        "MICROSPACE_APQ_MAX_DOCUMENT_CHARS",
        "characters of an automatic persisted query; longer ones run but are not kept "
        "(`PERSISTED_QUERY_TOO_LARGE` warning)",
    )
    allow_get_queries: bool = setting(
        True,
        "MICROSPACE_ALLOW_GET_QUERIES",
        "run queries (never mutations) over GET, for callers with a credential; off, or "
        "anonymous: HTTP 405 `GET_NOT_ALLOWED`",
    )
    compiled_reads: bool = setting(
        True,
        "MICROSPACE_COMPILED_READS",
        "answer supported queries with one SQL statement that builds the JSON (`compiler/`)",
    )
    statement_timeout: float = setting(
        5.0, "MICROSPACE_STATEMENT_TIMEOUT", "PostgreSQL statement timeout, in seconds"
    )
    execution_timeout: float = setting(
        10.0,
        "MICROSPACE_EXECUTION_TIMEOUT",
        "request timeout, in seconds, waits for a connection included",
    )
    # fair share of the pool (core/admission.py, docs/limits.md)
    tenant_max_concurrency: int = setting(
        4,
        "MICROSPACE_TENANT_MAX_CONCURRENCY",
        "requests of one tenant running at once, per process",
    )
    tenant_max_queue: int = setting(
        64,
        "MICROSPACE_TENANT_MAX_QUEUE",
        "requests of one tenant waiting at once, per process (more: HTTP 503 `OVERLOADED`)",
    )
    # live updates (docs/live.md)
    live_max_subscriptions_per_connection: int = setting(
        100,
        "MICROSPACE_LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        "subscriptions one WebSocket may hold (more: `error` `SUBSCRIPTION_LIMIT`)",
    )
    live_max_subscriptions_per_tenant: int = setting(
        20_000,
        "MICROSPACE_LIVE_MAX_SUBSCRIPTIONS_PER_TENANT",
        "subscriptions of one tenant, per process (more: `error` `SUBSCRIPTION_LIMIT`)",
    )
    live_send_queue: int = setting(
        64,
        "MICROSPACE_LIVE_SEND_QUEUE",
        "messages waiting to be sent on one WebSocket; a full queue closes it (4008)",
    )
    live_ping_seconds: float = setting(
        20.0, "MICROSPACE_LIVE_PING_SECONDS", "seconds between the server's keep-alive pings"
    )
    live_init_timeout: float = setting(
        10.0,
        "MICROSPACE_LIVE_INIT_TIMEOUT",
        "seconds a new WebSocket has to send `connection_init` (else closed 4408)",
    )
    # token bucket per principal (per client IP when anonymous), in cost points, per process
    # one token may load a 50-space page (cost 22,500) 10 times a second (docs/limits.md)
    rate_limit_burst: int = setting(
        500_000,
        "MICROSPACE_RATE_LIMIT_BURST",
        "cost points per principal, per process or shared with `REDIS_URL` (HTTP 429 "
        "`RATE_LIMITED`; a query dearer than the whole bucket: HTTP 400 `COST_EXCEEDS_BURST`)",
    )
    rate_limit_rate: float = setting(
        250_000.0, "MICROSPACE_RATE_LIMIT_RATE", "cost points refilled per second"
    )
    # e-mail outbox and its worker (docs/contacts.md)
    mail_sender: str = setting(
        "file",
        "MICROSPACE_MAIL_SENDER",
        "`file` (one `.eml` per e-mail in `MICROSPACE_MAIL_DIR`) or `smtp`",
    )
    mail_dir: str = setting("outbox-mail", "MICROSPACE_MAIL_DIR", "file sink directory")
    mail_from: str = setting(
        "Microspace <no-reply@localhost>", "MICROSPACE_MAIL_FROM", "sender address"
    )
    smtp_host: str = setting("localhost", "MICROSPACE_SMTP_HOST", "SMTP server")
    smtp_port: int = setting(587, "MICROSPACE_SMTP_PORT", "SMTP port")
    smtp_username: str | None = setting(None, "MICROSPACE_SMTP_USERNAME", "SMTP login")
    smtp_password: str | None = setting(None, "MICROSPACE_SMTP_PASSWORD", "SMTP password")
    smtp_starttls: bool = setting(True, "MICROSPACE_SMTP_STARTTLS", "SMTP with STARTTLS")
    smtp_timeout: float = setting(30.0, "MICROSPACE_SMTP_TIMEOUT", "SMTP timeout, in seconds")
    outbox_max_attempts: int = setting(
        8, "MICROSPACE_OUTBOX_MAX_ATTEMPTS", "attempts before an e-mail is dead-lettered"
    )
    outbox_backoff_seconds: float = setting(
        30.0,
        "MICROSPACE_OUTBOX_BACKOFF_SECONDS",
        "first retry delay, doubled per attempt, in seconds",
    )
    worker_poll_seconds: float = setting(
        5.0, "MICROSPACE_WORKER_POLL_SECONDS", "how often `worker` looks for due e-mail"
    )
    # webhooks (microspace/jobs/webhooks.py): first retry delay, retry window, request timeout
    webhook_backoff_seconds: float = setting(
        30.0,
        "MICROSPACE_WEBHOOK_BACKOFF_SECONDS",
        "first webhook retry delay (doubling, with jitter, capped at 4 h), in seconds",
    )
    webhook_retry_hours: float = setting(
        24.0,
        "MICROSPACE_WEBHOOK_RETRY_HOURS",
        "how long a webhook delivery is retried before it is dead-lettered, in hours",
    )
    webhook_timeout_seconds: float = setting(
        5.0, "MICROSPACE_WEBHOOK_TIMEOUT_SECONDS", "per-request webhook timeout, in seconds"
    )
    # privacy engine (docs/privacy.md): signs export links and keys the suppression HMAC
    secret_key: str | None = setting(
        None,
        "MICROSPACE_SECRET_KEY",
        "signs export links, keys the suppression HMAC",
        shown="none; **required** in production mode and on any non-loopback address "
        "(development: a random per-installation key in `.data/secret-key`)",
    )
    export_link_ttl: float = setting(
        3600.0,
        "MICROSPACE_EXPORT_LINK_TTL",
        "how long an access-export download link works, in seconds",
    )
    retention_grace_days: int = setting(
        30,
        "MICROSPACE_RETENTION_GRACE_DAYS",
        "days after a subscription ends before its personal data is erased; until then "
        "reads and exports work and writes answer `SUBSCRIPTION_ENDED`, but for data-subject "
        "rights and the exit (`docs/privacy.md`)",
    )
    # widgets (docs/widget.md)
    # empty: unset; see with_public_url
    public_url: str = setting(
        "",
        "MICROSPACE_PUBLIC_URL",
        "the API's public base URL, used in invitation links (docs/widget.md) and one-click "
        "unsubscribe links (docs/privacy.md); its origin passes the CORS check",
        shown=f"none; **required** in production, https (development: `{DEV_PUBLIC_URL}`)",
    )
    invitation_link_ttl: float = setting(
        14 * 86400.0,
        "MICROSPACE_INVITATION_LINK_TTL",
        "how long an invitation e-mail's link works, in seconds",
    )
    visitor_session_ttl: float = setting(
        30 * 86400.0,
        "MICROSPACE_VISITOR_SESSION_TTL",
        "how long a visitor session (opened from an invitation link) lasts, in seconds",
    )
    widget_cache_seconds: int = setting(
        60,
        "MICROSPACE_WIDGET_CACHE_SECONDS",
        "`Cache-Control: max-age` of widget reads by GET persisted query",
    )
    sign_in_retention_days: int = setting(
        90,
        "MICROSPACE_SIGN_IN_RETENTION_DAYS",
        "days sign-in records are kept before the worker purges them",
    )
    embedded_data_dir: str | None = setting(
        None,
        "MICROSPACE_DATA_DIR",
        "where `serve` keeps its embedded PostgreSQL when `DATABASE_URL` is unset",
        shown="`.data/postgres`",
    )
    # files (docs/files.md): where the bytes live, how long links work, upload limits
    storage: str = setting(
        "local",
        "MICROSPACE_STORAGE",
        "where files are kept: `local` (a directory) or `s3` (any S3-compatible service)",
    )
    storage_dir: str | None = setting(
        None,
        "MICROSPACE_STORAGE_DIR",
        "the directory of `local` storage",
        shown="`.data/files`",
    )
    s3_bucket: str | None = setting(
        None, "MICROSPACE_S3_BUCKET", "the bucket of `s3` storage (required with it)"
    )
    s3_endpoint_url: str | None = setting(
        None,
        "MICROSPACE_S3_ENDPOINT_URL",
        "the S3 service's URL (unset: AWS); also what upload URLs point at",
    )
    s3_region: str = setting("us-east-1", "MICROSPACE_S3_REGION", "the S3 region")
    s3_access_key_id: str | None = setting(
        None,
        "MICROSPACE_S3_ACCESS_KEY_ID",
        "S3 access key (unset: the AWS SDK's usual sources)",
    )
    s3_secret_access_key: str | None = setting(
        None, "MICROSPACE_S3_SECRET_ACCESS_KEY", "S3 secret key (unset: as above)"
    )
    file_link_ttl: float = setting(
        300.0,
        "MICROSPACE_FILE_LINK_TTL",
        "how long a file's signed download URL works, in seconds",
    )
    upload_link_ttl: float = setting(
        3600.0,
        "MICROSPACE_UPLOAD_LINK_TTL",
        "how long an upload URL works before its `assetUploadComplete`, in seconds",
    )
    max_upload_bytes: int = setting(
        10_485_760,
        "MICROSPACE_MAX_UPLOAD_BYTES",
        "size of a GraphQL multipart request (a small file inline; larger ones by upload URL)",
    )
    max_file_bytes: int = setting(
        5_368_709_120,
        "MICROSPACE_MAX_FILE_BYTES",
        "largest file, unless the tenant's plan sets its own (`FILE_TOO_LARGE`)",
    )
    # operating (README "Operating"): logs, traces, shared rate limits
    log_level: str = setting(
        "INFO",
        "MICROSPACE_LOG_LEVEL",
        "level of `serve` and `worker` logs (one-shot commands log warnings only)",
    )
    log_format: str = setting(
        "json",
        "MICROSPACE_LOG_FORMAT",
        "`json` (one object per line) or `console`; unset, `serve` in development mode logs "
        "`console`",
    )
    otel_endpoint: str | None = setting(
        None,
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTLP/HTTP collector for traces; no tracing when unset",
    )
    trusted_proxies: str = setting(
        "",
        "MICROSPACE_TRUSTED_PROXIES",
        "proxies (comma-separated addresses or networks) whose `X-Forwarded-For` and "
        "`X-Forwarded-Proto` `serve` believes; any other peer's are ignored, loopback's too",
        shown="none",
    )
    redis_url: str | None = setting(
        None,
        "REDIS_URL",
        "share rate-limit budgets between processes; per process when unset",
    )
    redis_prefix: str = setting(
        "microspace:", "MICROSPACE_REDIS_PREFIX", "prefix of the keys written to Redis"
    )
    metrics_token: str | None = setting(
        None,
        "MICROSPACE_METRICS_TOKEN",
        "bearer token a scraper sends to `/metrics` (`Authorization: Bearer ...`); unset, "
        "`/metrics` answers 403 in production mode and is open in development mode",
    )

    def owner_url(self) -> URL:
        if not self.database_url:
            raise ConfigError(
                "DATABASE_URL (the owner's login) is not set: this command needs it; the API "
                "and the worker need only APP_DATABASE_URL"
            )
        return async_url(self.database_url)

    def secret(self) -> bytes:
        """The key for export links and suppression hashes.

        There is no built-in fallback: a key in the source would let anyone forge export
        links and reverse suppression hashes by dictionary. Without MICROSPACE_SECRET_KEY,
        the CLI uses a random per-installation key (core/devdb.py), on loopback only.
        """
        if self.secret_key:
            return self.secret_key.encode()
        raise RuntimeError("MICROSPACE_SECRET_KEY is not set")

    def with_public_url(self) -> Settings:
        """These settings with the public URL resolved, or a ConfigError saying why not.

        Production requires MICROSPACE_PUBLIC_URL, https: a default would put localhost in
        every invitation and unsubscribe link, and let that origin pass the CORS check.
        Development falls back to localhost.
        """
        url = self.public_url.strip()
        if self.dev_mode:
            return replace(self, public_url=url or DEV_PUBLIC_URL)
        if not url:
            raise ConfigError(
                "MICROSPACE_PUBLIC_URL must be set in production: the https URL clients reach "
                "the API at, used in invitation and unsubscribe links"
            )
        if not _https_base(url):
            raise ConfigError(
                f"MICROSPACE_PUBLIC_URL must be an https URL in production (no query), not "
                f"{url[:100]!r}"
            )
        return replace(self, public_url=url)

    def app_url(self) -> URL:
        """The application's own login: a role that owns nothing and cannot bypass RLS."""
        if self.app_database_url:
            return async_url(self.app_database_url)
        return self.owner_url().set(username=APP_ROLE, password=self.app_db_password)


def _https_base(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme == "https" and bool(parts.hostname) and not (parts.query or parts.fragment)


def _parse(kind: str, raw: str | None, default: Any) -> Any:
    """One environment value of a setting's type; unset (or empty, but for text) keeps the
    default."""
    if kind == "str":
        return default if raw is None else raw
    if raw in (None, ""):
        return None if kind == "str | None" else default
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "str | None":
        return raw
    raise TypeError(f"no environment parsing for settings of type {kind}")


def load_settings() -> Settings:
    """The settings from the environment, read once at start-up."""
    values = {
        f.name: _parse(str(f.type), os.environ.get(f.metadata["env"]), f.default)
        for f in fields(Settings)
    }
    return Settings(**values)


def _shown(f: Field[Any]) -> str:
    if f.metadata["shown"]:
        return str(f.metadata["shown"])
    value = f.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def readme_table() -> str:
    """README.md's configuration table, derived from the declarations (tests/test_config.py
    fails when the two drift: paste this function's output over the table)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        rows.append(f"| `{f.metadata['env']}` | {_shown(f)} | {f.metadata['meaning']} |")
    return "\n".join(rows)
