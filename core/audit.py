"""The per-request audit buffer: personal-data reads and changes, written at commit time.

Entries are appended in the request's own transaction, just before it commits, so a read
that is answered is a read that is recorded (and a rolled-back request records nothing).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from itertools import compress
from typing import Any, Protocol

import orjson
from sqlalchemy import text

from core.auth import Principal
from core.db import Db


class AuditSubject(Protocol):
    """An object whose personal fields are audited when read: it names the data subject
    (a contact's id) the values are about, or None when they are about nobody in particular.
    Every GraphQL type with a personal-data field implements it (tests/test_recipe.py)."""

    @property
    def subject_pk(self) -> uuid.UUID | None: ...


class AuditBuffer:
    def __init__(self, principal: Principal, request_id: str) -> None:
        self._principal = principal
        self._request_id = request_id
        # (operation, subject as text) -> fields, in first-seen order
        self._entries: dict[tuple[str, str | None], dict[str, None]] = defaultdict(dict)

    def read(self, subject_id: uuid.UUID | None, field: str) -> None:
        self._entries[("read", _text(subject_id))][field] = None

    def read_items(self, items: str | None) -> None:
        """The reads a compiled statement lists, `subject|field,field;subject|...` (subjects
        as PostgreSQL writes a UUID, as `str` does): hundreds per page of contacts, so the
        text is not turned into UUIDs and back."""
        entries = self._entries
        for item in (items or "").split(";"):
            subject, _, fields = item.partition("|")
            if not fields:
                continue
            entry = entries[("read", subject)]
            for field in fields.split(","):
                entry[field] = None

    def record(self, operation: str, subject_id: uuid.UUID | None, fields: list[str]) -> None:
        entry = self._entries[(operation, _text(subject_id))]
        for field in fields:
            entry[field] = None

    def grouped(self) -> list[dict[str, Any]]:
        """One entry per (operation, field set), naming every subject it covers: listing 500
        contacts is one entry, not 500."""
        groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for (operation, subject), fields in self._entries.items():
            subjects = groups.setdefault((operation, tuple(fields)), [])
            if subject is not None:
                subjects.append(subject)
        return [
            {"operation": op, "fields": list(fields), "subjects": subjects}
            for (op, fields), subjects in groups.items()
        ]

    def __len__(self) -> int:
        return len(self._entries)

    async def flush(self, db: Db) -> None:
        """Append the buffered entries (one statement) in the request's transaction."""
        if self._entries and self._principal.tenant_id is not None:
            p = self._principal
            await append_entries(
                db, p.kind, p.member_id or p.token_id, self._request_id, self.grouped()
            )
        self._entries.clear()


def _text(subject_id: uuid.UUID | None) -> str | None:
    return None if subject_id is None else str(subject_id)


def read_entries(parts: list[str]) -> str | None:
    """The entries (JSON) an `AuditBuffer` given these parts (`read_items`) would append,
    or None when nothing was disclosed: the same entries at less than half the CPU (q2
    lists 250 contacts a request). Most subjects are listed with the same fields each time
    they appear, so the groups are made by C loops over few distinct field lists."""
    fields_of: dict[str, str] = {}  # subject -> its fields, in first-seen order
    for part in parts:
        for item in part.split(";"):
            subject, _, fields = item.partition("|")
            if fields and fields_of.setdefault(subject, fields) != fields:
                return _entries(_united(parts))  # a subject listed with other fields
    if not fields_of:
        return None
    if any(map(_repeats, set(fields_of.values()))):
        return _entries(_united(parts))
    return _entries(fields_of)


def _entries(fields_of: dict[str, str]) -> str:
    """`AuditBuffer.grouped` of reads: one entry per field list, in first-seen order."""
    subjects = list(fields_of)
    lists = list(fields_of.values())
    groups = sorted(set(lists), key=lists.index)
    entries = [
        {
            "operation": "read",
            "fields": fields.split(","),
            "subjects": list(compress(subjects, map(fields.__eq__, lists))),
        }
        for fields in groups
    ]
    return orjson.dumps(entries).decode()


def _repeats(fields: str) -> bool:
    names = fields.split(",")
    return len(set(names)) != len(names)


def _united(parts: list[str]) -> dict[str, str]:
    """Each subject's fields, as `read_items` unites them (no name holds a comma)."""
    entries: dict[str, dict[str, None]] = {}
    for part in parts:
        for item in part.split(";"):
            subject, _, fields = item.partition("|")
            if fields:
                entry = entries.setdefault(subject, {})
                for field in fields.split(","):
                    entry[field] = None
    return {subject: ",".join(fields) for subject, fields in entries.items()}


async def append_entries(
    db: Db,
    principal_kind: str,
    principal_id: uuid.UUID | None,
    request_id: str | None,
    entries: list[dict[str, Any]],
) -> None:
    """Append entries to the current tenant's hash chain (`audit_append` in the database)."""
    await db.execute(
        text("SELECT audit_append(:kind, :principal, :request, CAST(:entries AS jsonb))"),
        {
            "kind": principal_kind,
            "principal": principal_id,
            "request": request_id,
            "entries": json.dumps(entries),
        },
    )


async def verify_chain(db: Db) -> int | None:
    """The first broken sequence number of the current tenant's chain, or None if intact."""
    broken = await db.scalar(text("SELECT audit_verify()"))
    return None if broken is None else int(broken)
