"""The access log names routes, never the secrets in them (export links)."""

from __future__ import annotations

import logging
import re

# an export link's token is the path segment after /exports/: a bearer-like secret
_EXPORT = re.compile(r"(/exports/)[^/?\s]+")


def redact_path(path: str) -> str:
    return _EXPORT.sub(r"\1[link]", path)


class RedactExportTokens(logging.Filter):
    """Rewrite uvicorn's access-log record so the line holds `/exports/[link]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        return True


def install() -> None:
    """Attach the filter to uvicorn's access logger once (uvicorn keeps logger filters)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactExportTokens) for f in logger.filters):
        logger.addFilter(RedactExportTokens())
