"""Operator commands for the erasure journal: export it, and replay it after a restore."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.config import Settings
from core.db import make_engine, sessionmaker_for
from microspace.commands.tenants import OperatorError


def parse_time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise OperatorError(f"not an ISO 8601 time: {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_journal(path: str) -> list[dict[str, Any]]:
    """JSON lines as `microspace erasure-journal` prints them ("-" reads standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise OperatorError(f"cannot read the journal {path}: {exc.strerror}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            _check_entry(entry)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise OperatorError(f"{path}:{number}: not a journal entry") from None
        entries.append(entry)
    return sorted(entries, key=lambda e: e["erased_at"])


def _check_entry(entry: dict[str, Any]) -> None:
    """Raise unless the entry has the shape `erasure-journal` prints (ValueError and kin)."""
    from models import JournalKind

    uuid.UUID(entry["tenant_id"])
    uuid.UUID(entry["id"])
    JournalKind(entry["kind"])
    datetime.fromisoformat(entry["erased_at"])
    if entry["subject_id"] is not None:
        uuid.UUID(entry["subject_id"])
    if entry["email_hash"] is not None:
        bytes.fromhex(entry["email_hash"])


async def _journal(settings: Settings, since: datetime | None) -> list[dict[str, Any]]:
    from privacy.journal import entries_since

    # as the owner: the journal of every tenant
    engine = make_engine(settings.owner_url(), pool_size=1, max_overflow=0)
    try:
        return await entries_since(sessionmaker_for(engine), since)
    finally:
        await engine.dispose()


async def _replay(
    settings: Settings, entries: list[dict[str, Any]], since: datetime
) -> dict[str, int]:
    from files.storage import storage_from
    from privacy.replay import replay

    engine = make_engine(settings.owner_url(), pool_size=1, max_overflow=0)
    storage = storage_from(settings)
    try:
        return await replay(sessionmaker_for(engine), entries, since=since, storage=storage)
    finally:
        await engine.dispose()
        await storage.close()


def export_journal(settings: Settings, args: argparse.Namespace) -> int:
    since = parse_time(args.since) if args.since else None
    for entry in asyncio.run(_journal(settings, since)):
        print(json.dumps(entry, separators=(",", ":")))
    return 0


def replay_journal(settings: Settings, args: argparse.Namespace) -> int:
    since = parse_time(args.since)
    entries = read_journal(args.journal)
    counts = asyncio.run(_replay(settings, entries, since))
    print(json.dumps({"replayed": counts, "since": since.isoformat()}))
    return 0
