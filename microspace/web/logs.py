"""Structured logs: one JSON object per line, carrying the request id (or, for a person at
a terminal, aligned text: `MICROSPACE_LOG_FORMAT=console`, and `serve` in development).

What never reaches a log line: export link tokens (paths are logged as their route, and any
`/exports/<token>` left in a message is rewritten), exception messages (database errors quote
the values that failed, which may be personal data: an error is logged as its type and the
frames it went through), and request bodies or variables (nothing logs them).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

EXPORT_PATH = re.compile(r"/(exports|invitations)/[^\s/?\"']+")
MAX_FRAMES = 12


def scrub_export_tokens(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        if isinstance(value, str) and ("/exports/" in value or "/invitations/" in value):
            event[key] = EXPORT_PATH.sub(r"/\1/{token}", value)
    return event


def summarise_exception(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """An exception as its type and frames, without its message (see the module docstring)."""
    exc_info = event.pop("exc_info", None)
    if exc_info is None or exc_info is False:
        return event
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    _, error, tb = exc_info
    if error is None:
        return event
    event["error"] = type(error).__qualname__
    frames = traceback.extract_tb(tb)[-MAX_FRAMES:]
    event["frames"] = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in frames]
    cause = error.__cause__ or error.__context__
    if cause is not None:
        event["cause"] = type(cause).__qualname__
    return event


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        summarise_exception,
        scrub_export_tokens,
    ]


def configure_structlog() -> None:
    """structlog loggers hand their events to the standard library's logging."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter(*, json: bool = True, colors: bool = False) -> logging.Formatter:
    """One line per event: JSON for machines, or aligned text for a terminal."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def configure_logging(level: str = "INFO", *, json: bool = True, stream: Any = None) -> None:
    """Route the standard library's logging (ours, uvicorn's) through structlog."""
    configure_structlog()
    handler = logging.StreamHandler(stream)
    # colours for a terminal only: escape codes in a file or a pipe are noise
    colors = bool(getattr(handler.stream, "isatty", lambda: False)())
    handler.setFormatter(formatter(json=json, colors=colors))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # our own access line names the route (`/exports/{token}`), uvicorn's the full path
    logging.getLogger("uvicorn.access").disabled = True
    # libraries' start-up chatter, not news to an operator: alembic lists its plugins,
    # casbin prints its model
    for name in ("alembic.runtime.plugins", "casbin.policy"):
        logging.getLogger(name).setLevel(logging.WARNING)
