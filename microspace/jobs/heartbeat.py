"""The worker's liveness, without HTTP (it serves none): the outbox loop touches a file
after each pass over due e-mail and after each e-mail, and `python -m
microspace.jobs.heartbeat` (compose's worker healthcheck) exits 1, saying why in one line,
when that file is missing or older than `max_age`. A database outage fails passes, so the
file ages then too: unhealthy means no pass completed lately, whatever the cause.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from core.config import Settings, load_settings

HEARTBEAT = Path(tempfile.gettempdir()) / "microspace-worker.heartbeat"
log = logging.getLogger("microspace.jobs.heartbeat")


def beat(path: Path) -> None:
    try:
        path.touch()
    except OSError as exc:  # liveness must never stop the mail
        log.warning("worker heartbeat %s not written: %s", path, type(exc).__name__)


def max_age(settings: Settings) -> float:
    """Seconds without a beat before the worker counts as stuck: several polls, and long
    enough for a slow SMTP exchange (each e-mail beats once it is done)."""
    return max(120.0, 4 * settings.worker_poll_seconds, 2 * settings.smtp_timeout)


def check(path: Path, limit: float, *, now: float | None = None) -> str | None:
    """Why the worker is not live, or None when it is."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return f"worker heartbeat: no beat yet ({path} does not exist)"
    if age > limit:
        return f"worker heartbeat: last beat {age:.0f} s ago, more than {limit:.0f} s"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m microspace.jobs.heartbeat",
        description="Exit 0 when the worker's heartbeat file is recent, else 1.",
    )
    p.add_argument("--file", type=Path, default=HEARTBEAT, help=f"default: {HEARTBEAT}")
    p.add_argument("--max-age", type=float, help="seconds; default: from the worker's settings")
    args = p.parse_args(argv)
    limit = args.max_age if args.max_age is not None else max_age(load_settings())
    why = check(args.file, limit)
    if why:
        print(why, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
